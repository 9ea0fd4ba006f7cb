package consent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestImportReportsItsChanges: an import batch reports the consent it
// changed through the outbox, like every other ledger write: one optin or
// optout per subscriber and direction with the topics it changed, source
// import; an import that changes nothing reports nothing.
func TestImportReportsItsChanges(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	if _, err := hooks.NewStore(d, time.Now).Create(ctx, hooks.EndpointInput{URL: "https://crm.example/hooks",
		Events: []string{string(hooks.OptIn), string(hooks.OptOut)}}); err != nil {
		t.Fatal(err)
	}
	anna, oleg := newSubscriber(t, d, "anna"), newSubscriber(t, d, "oleg")
	imp := []consent.Imported{{SubscriberID: anna, Topic: mkt, Granted: true}, {SubscriberID: oleg, Topic: mkt, Granted: false},
		{SubscriberID: anna, Topic: svc, Granted: true}}
	for round := 1; round <= 2; round++ {
		if _, err := consent.Import(ctx, d, imp); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := d.Select(&got, `SELECT s.external_id || ' ' || e.type || ' ' || e.data::text
		                            FROM webhook_events e JOIN subscribers s ON s.id = e.subscriber_id ORDER BY e.id`); err != nil {
			t.Fatal(err)
		}
		want := []string{
			`anna optin {"source": "import", "topics": ["marketing", "service"], "channel": "*"}`,
			`oleg optout {"source": "import", "topics": ["marketing"], "channel": "*"}`,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after import %d the outbox holds %q, want %q", round, got, want)
		}
	}
}
