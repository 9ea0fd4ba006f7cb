package links_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/templates"
)

// BenchmarkRewrite is the cost the outbox pays per composed message with a
// text link and a link button: the rewrite and its one INSERT on the pool.
func BenchmarkRewrite(b *testing.B) {
	d := testenv.DB(b)
	s := links.New(links.Config{DB: d, BaseURL: base, Secret: []byte("0123456789abcdef")})
	ctx := context.Background()
	in := templates.Rendered{Text: "Меню: https://shop.example/menu?week=49",
		Buttons: []channels.Button{{Text: "Order", URL: "https://shop.example/order"}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := links.Message{Key: "run" + strconv.Itoa(i), StepID: "s", Channel: channels.Telegram}
		if _, err := s.Rewrite(ctx, def(nil), m, in); err != nil {
			b.Fatal(err)
		}
	}
}
