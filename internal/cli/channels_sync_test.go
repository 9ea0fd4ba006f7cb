package cli

import (
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// exampleTemplates are the approved templates the GrowFood examples name.
func exampleTemplates(f *whatsappfake.Server) {
	for _, lang := range []string{"ru", "en"} {
		f.AddTemplate(whatsappfake.Template{Name: "growfood_receipt_v1", Language: lang, Body: "Order {{1}}: {{2}}, receipt {{3}}"})
		f.AddTemplate(whatsappfake.Template{Name: "growfood_feedback_v1", Language: lang, Body: "Hi {{1}}, did you like the food?", QuickReplies: []string{"Yes", "No"}})
		f.AddTemplate(whatsappfake.Template{Name: "growfood_feedback_reminder_v1", Language: lang, Body: "How was the food?", QuickReplies: []string{"Yes", "No"}})
		f.AddTemplate(whatsappfake.Template{Name: "growfood_weekly_renewal_v2", Language: lang, Body: "Hi {{1}}, next week's menu is ready", Category: "MARKETING"})
	}
}

func TestChannelsSyncWhatsAppThenLint(t *testing.T) {
	f := whatsappfake.New(whatsappfake.Options{})
	t.Cleanup(f.Close)
	o := f.Options()
	env := map[string]string{
		"NUDGE_DATABASE_URL":             testenv.DBURL(t),
		"NUDGE_WHATSAPP_API_URL":         f.URL(),
		"NUDGE_WHATSAPP_TOKEN":           o.Token,
		"NUDGE_WHATSAPP_PHONE_NUMBER_ID": o.PhoneNumberID,
		"NUDGE_META_APP_SECRET":          o.AppSecret,
	}
	// A database without a sync: lint warns that nothing was checked.
	code, out, errOut := runCLI(t, env, "campaign", "lint", "../../examples/growfood")
	if code != 0 || !strings.Contains(out, "not checked: the catalogue was never synced") {
		t.Fatalf("lint before a sync: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, env, "channels", "sync", "whatsapp"); code != 2 || !strings.Contains(errOut, "NUDGE_WHATSAPP_WABA_ID is not set") {
		t.Fatalf("sync without a business account: exit %d, %s", code, errOut)
	}
	env["NUDGE_WHATSAPP_WABA_ID"] = o.WABAID
	exampleTemplates(f)
	code, out, errOut = runCLI(t, env, "channels", "sync", "whatsapp")
	if code != 0 || !strings.Contains(out, "whatsapp main: 8 templates (8 approved), 0 removed") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "campaign", "lint", "../../examples/growfood")
	if code != 0 || !strings.Contains(out, "3 campaign files: no problems") {
		t.Fatalf("lint against the synced catalogue: exit %d\n%s%s", code, out, errOut)
	}

	// The receipt template loses a parameter and the feedback one is paused
	// on WhatsApp; after a resync lint refuses the references, positioned.
	f.AddTemplate(whatsappfake.Template{Name: "growfood_receipt_v1", Language: "en", Body: "Order {{1}}: {{2}}"})
	f.AddTemplate(whatsappfake.Template{Name: "growfood_feedback_v1", Language: "ru", Body: "Hi {{1}}", Status: "PAUSED"})
	if code, out, errOut := runCLI(t, env, "channels", "sync", "whatsapp"); code != 0 {
		t.Fatalf("resync: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "campaign", "lint", "../../examples/growfood")
	for _, want := range []string{
		"order-receipt.yaml:82:19: whatsapp-template: WhatsApp template \"growfood_receipt_v1\" (en) takes 2 body parameters, the variant gives 3",
		"weekly-feedback.yaml:111:17: whatsapp-template: WhatsApp template \"growfood_feedback_v1\" (ru) is PAUSED, not APPROVED",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("lint after the resync: exit %d, lacks %q:\n%s", code, want, out)
		}
	}

	// Apply checks against a readable catalogue too.
	path, _ := copyExample(t, "order-receipt.yaml")
	if code, out, _ := runCLI(t, env, "campaign", "apply", path); code != 1 || !strings.Contains(out, "takes 2 body parameters") {
		t.Fatalf("apply with a mismatched template: exit %d\n%s", code, out)
	}
}
