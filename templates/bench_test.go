package templates

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// BenchmarkRender renders the GrowFood feedback question from a warm cache,
// the worker's per-message cost.
func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name string
		tpl  string
		ch   channels.Kind
		loc  string
	}{
		{"telegram_ask_ru", "ask", channels.Telegram, "ru"},
		{"sms_menu_ru", "menu", channels.SMS, "ru"},
		{"email_menu_en", "menu", channels.Email, "en"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := NewRenderer()
			d := goldenData(c.loc)
			if _, err := r.Render("v1", growfood, c.tpl, c.ch, d); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Render("v1", growfood, c.tpl, c.ch, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("telegram_ask_ru_parallel", func(b *testing.B) {
		r := NewRenderer()
		d := goldenData("ru")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Render("v1", growfood, "ask", channels.Telegram, d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("telegram_ask_ru_uncached", func(b *testing.B) {
		r := NewRenderer()
		d := goldenData("ru")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Render("", growfood, "ask", channels.Telegram, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
