package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

func TestTemplatesFollowPaging(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	// 230 templates: three pages of 100, the last without paging.next.
	for i := range 230 {
		s.Fake.AddTemplate(whatsappfake.Template{Name: fmt.Sprintf("t%03d", i), Language: "ru", Body: "Hi {{1}}"})
	}
	s.Fake.AddTemplate(whatsappfake.Template{Name: "receipt", Language: "en", Status: "PAUSED", Category: "MARKETING",
		Header: "Order {{1}}", Body: "Total {{1}}, {{2}} and again {{1}}", URL: "https://x.example/r/{{1}}", QuickReplies: []string{"Stop"}})
	ts, err := s.Client.Templates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 231 || s.Fake.TemplateRequests() != 3 {
		t.Fatalf("got %d templates in %d requests, want 231 in 3", len(ts), s.Fake.TemplateRequests())
	}
	last := ts[230]
	if last.Name != "receipt" || last.Status != "PAUSED" || last.Category != "MARKETING" {
		t.Fatalf("last = %+v", last)
	}
	if p := last.Params(); !reflect.DeepEqual(p, whatsapp.Params{Body: 2, Header: 1, Button: 1}) {
		t.Fatalf("params = %+v", p)
	}
	if b := last.ButtonTexts(); len(b) != 2 || b[0] != "Stop" {
		t.Fatalf("buttons = %q", b)
	}
}

func TestTemplatesNeedWABA(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	cfg := s.Cfg
	cfg.WABAID = ""
	if _, err := whatsapp.New(cfg, nil).Templates(context.Background()); !errors.Is(err, whatsapp.ErrNoWABA) {
		t.Fatalf("err = %v, want ErrNoWABA", err)
	}
	cfg.WABAID = "999"
	if _, err := whatsapp.New(cfg, nil).Templates(context.Background()); err == nil {
		t.Fatal("a wrong business account listed templates")
	}
}

func TestTemplateSendsCheckedLikeMeta(t *testing.T) {
	tpl := func(name, lang string, params ...string) channels.Message {
		return channels.Message{To: "400", Template: &channels.TemplateRef{Name: name, Language: lang, Params: params}}
	}
	channeltest.SendErrors(t, func(t *testing.T) *setup {
		s := newSetup(t, whatsappfake.Options{})
		s.Fake.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "Привет, {{1}}!"})
		s.Fake.AddTemplate(whatsappfake.Template{Name: "paused", Language: "ru", Body: "x", Status: "PAUSED"})
		s.Fake.AddTemplate(whatsappfake.Template{Name: "disabled", Language: "ru", Body: "x", Status: "DISABLED"})
		s.Fake.AddTemplate(whatsappfake.Template{Name: "pending", Language: "ru", Body: "x", Status: "PENDING"})
		return s
	}, []channeltest.SendError[*whatsappfake.Server]{
		{Name: "unknown name", Msg: tpl("renewl", "ru", "Ада"), Kind: channels.Invalid, Code: "132001"},
		{Name: "wrong language", Msg: tpl("renewal", "en", "Ada"), Kind: channels.Invalid, Code: "132001"},
		{Name: "parameter count", Msg: tpl("renewal", "ru"), Kind: channels.Invalid, Code: "132000"},
		{Name: "paused", Msg: tpl("paused", "ru"), Kind: channels.Invalid, Code: "132015"},
		{Name: "disabled", Msg: tpl("disabled", "ru"), Kind: channels.Invalid, Code: "132016"},
		{Name: "not approved", Msg: tpl("pending", "ru"), Kind: channels.Invalid, Code: "132001"},
	})
	s := newSetup(t, whatsappfake.Options{})
	s.Fake.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "Привет, {{1}}!"})
	if _, err := s.Client.Send(context.Background(), tpl("renewal", "ru", "Ада")); err != nil {
		t.Fatalf("approved template with its parameter: %v", err)
	}
}

// A media card carousel template as the Graph API lists it (the shape of
// Meta's template creation example, which the listing echoes): the message
// body's parameters, then per card its body's, and the cards' URL buttons
// with a {{1}}.
func TestCarouselTemplateParams(t *testing.T) {
	raw, err := os.ReadFile("testdata/template_carousel.json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Data []whatsapp.Template }
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	p := page.Data[0].Params()
	if want := (whatsapp.Params{Body: 3, CardBody: []int{2, 2}, CardButton: 2}); !reflect.DeepEqual(p, want) {
		t.Fatalf("params = %+v, want %+v", p, want)
	}
}
