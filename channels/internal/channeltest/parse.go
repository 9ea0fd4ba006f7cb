package channeltest

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// FuzzParse fuzzes an adapter's webhook parser, seeded with the fixtures
// named from testdata (besides any seeds the caller added): parse must not
// return events together with an error, and bad (nil: none) names the
// events a parse must never return, such as one without a dedupe id.
func FuzzParse(f *testing.F, fixtures []string, parse func(body []byte) ([]channels.Event, error), bad func(channels.Event) bool) {
	f.Helper()
	for _, name := range fixtures {
		f.Add(Testdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := parse(body)
		if err != nil && len(evs) > 0 {
			t.Fatal("events with an error")
		}
		for _, e := range evs {
			if bad != nil && bad(e) {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

// FixtureEvent parses the fixture file from testdata with parse, an error
// failing the test, and checks what it gave with OneEvent: it returns the
// event, the fixture's body (for Raw) and whether there is an event to
// check further.
func FixtureEvent(t testing.TB, file string, typ channels.EventType, parse func(body []byte) ([]channels.Event, error)) (channels.Event, []byte, bool) {
	t.Helper()
	body := Testdata(t, file)
	evs, err := parse(body)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	e, ok := OneEvent(t, file, evs, typ)
	return e, body, ok
}
