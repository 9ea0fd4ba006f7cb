package preview

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// TestPreviewChecksTheTemplate: a WhatsApp preview outside the window says
// the template was not checked before a sync, and after a sync names what
// the catalogue says is wrong with it.
func TestPreviewChecksTheTemplate(t *testing.T) {
	fx := setup(t)
	ctx := context.Background()
	fx.subscriber(t, "wa", "Maria", "ru", map[channels.Kind]time.Time{channels.WhatsApp: friday.Add(-72 * time.Hour)}, map[string]bool{"service": true})
	req := Request{CampaignID: "weekly-feedback", Subscriber: "wa"}
	res, err := fx.p.Preview(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Message == nil || res.Message.Template == nil || !strings.Contains(res.TemplateUnchecked, "never synced") || res.TemplateProblems != nil {
		t.Fatalf("before a sync: %+v", res)
	}

	f := whatsappfake.New(whatsappfake.Options{})
	t.Cleanup(f.Close)
	f.AddTemplate(whatsappfake.Template{Name: "growfood_feedback_v1", Language: "ru", Body: "{{1}}, {{2}}?", Category: "MARKETING"})
	o := f.Options()
	client := whatsapp.New(whatsapp.Config{App: meta.App{APIURL: f.URL()}, Token: o.Token, WABAID: o.WABAID}, nil)
	if _, err := catalogue.Sync(ctx, fx.d, "main", o.WABAID, client, friday); err != nil {
		t.Fatal(err)
	}
	res, err = fx.p.Preview(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.TemplateUnchecked != "" || len(res.TemplateProblems) != 2 ||
		!strings.Contains(res.TemplateProblems[0], "takes 2 body parameters, the variant gives 1") ||
		!strings.Contains(res.TemplateProblems[1], "MARKETING template, but the campaign's topic is service") {
		t.Fatalf("after a sync: %q (unchecked %q)", res.TemplateProblems, res.TemplateUnchecked)
	}
	textHolds(t, res, "  problem: WhatsApp template \"growfood_feedback_v1\" (ru) takes 2 body parameters")
}
