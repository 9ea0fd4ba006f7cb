package channelcheck

import (
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

// FuzzLint: no campaign file panics the full linter (template rules included).
func FuzzLint(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("id: c\nsettings: {channels: [sms, email, whatsapp]}\ntemplates:\n  t:\n    default:\n      ru: {text: \"{{range .Payload.items}}{{.}}{{end}}\", buttons: [{id: \"{{x}}\", text: \"\"}]}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, _ := campaigns.Parse("f.yaml", src)
		for _, e := range Lint([]*campaigns.File{file}) {
			if e.Line < 1 || e.Col < 1 {
				t.Fatalf("bad position: %+v", e)
			}
		}
	})
}
