package catalogue_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// newFake starts a WhatsApp fake and a client of its business account.
func newFake(t *testing.T) (*whatsappfake.Server, *whatsapp.Client) {
	t.Helper()
	f := whatsappfake.New(whatsappfake.Options{})
	t.Cleanup(f.Close)
	o := f.Options()
	return f, whatsapp.New(whatsapp.Config{App: meta.App{APIURL: f.URL()}, Token: o.Token, PhoneNumberID: o.PhoneNumberID, WABAID: o.WABAID}, nil)
}

// setup is a test's database, its clock and a WhatsApp fake with a client.
func setup(t *testing.T) (*sqlx.DB, time.Time, *whatsappfake.Server, *whatsapp.Client) {
	t.Helper()
	d := testenv.DB(t)
	f, client := newFake(t)
	return d, testenv.ClockStart(t), f, client
}

func TestSyncThroughFakeAndResync(t *testing.T) {
	ctx := context.Background()
	d, now, f, client := setup(t)
	o := f.Options()

	if _, err := catalogue.Load(ctx, d); !errors.Is(err, catalogue.ErrNeverSynced) {
		t.Fatalf("Load before a sync: %v, want ErrNeverSynced", err)
	}
	if c := catalogue.ForLint(ctx, d); c.Unavailable == "" {
		t.Fatal("ForLint before a sync claims a catalogue")
	}
	load := catalogue.Loader(d)
	if c := load(); c != nil {
		t.Fatalf("Loader before a sync: %+v", c)
	}
	for i := range 120 { // two pages of 100
		f.AddTemplate(whatsappfake.Template{Name: fmt.Sprintf("bulk_%03d", i), Language: "en", Body: "x"})
	}
	f.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "Привет, {{1}}! Заказ {{2}}", Category: "MARKETING"})
	f.AddTemplate(whatsappfake.Template{Name: "receipt", Language: "ru", Body: "Чек {{1}}", Status: "PENDING", URL: "https://x.example/{{1}}"})
	res, err := catalogue.Sync(ctx, d, "main", o.WABAID, client, now)
	if err != nil {
		t.Fatal(err)
	}
	if res != (catalogue.Result{Templates: 122, Approved: 121}) {
		t.Fatalf("first sync = %+v", res)
	}
	c, err := catalogue.Load(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if l := load(); l == nil || len(l.Templates) != 122 {
		t.Fatalf("Loader after a sync: %+v", l)
	}
	want := campaigns.CatalogueTemplate{Account: "main", Name: "renewal", Language: "ru", Category: "MARKETING", Status: "APPROVED", BodyParams: 2}
	var got *campaigns.CatalogueTemplate
	for i := range c.Templates {
		if c.Templates[i].Name == "renewal" {
			got = &c.Templates[i]
		}
	}
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("renewal = %+v, want %+v", got, want)
	}
	if ps := c.Check("main", campaigns.TemplateUse{Name: "receipt", Language: "ru", Params: 1}, campaigns.TopicService); len(ps) != 2 {
		t.Fatalf("a pending template with a URL parameter: %+v", ps)
	}

	// A resync replaces the account's rows: the bulk templates deleted on
	// WhatsApp go; a status change is taken.
	f2, client2 := newFake(t)
	f2.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "Привет, {{1}}! Заказ {{2}}", Status: "PAUSED"})
	res, err = catalogue.Sync(ctx, d, "main", f2.Options().WABAID, client2, now)
	if err != nil {
		t.Fatal(err)
	}
	if res != (catalogue.Result{Templates: 1, Removed: 121}) {
		t.Fatalf("resync = %+v", res)
	}
	c = catalogue.ForLint(ctx, d)
	if c.Unavailable != "" || len(c.Templates) != 1 || c.Templates[0].Status != "PAUSED" {
		t.Fatalf("after resync: %+v", c)
	}
}

func TestSyncFailureKeepsTheCopy(t *testing.T) {
	ctx := context.Background()
	d, now, f, good := setup(t)
	o := f.Options()
	f.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "x"})
	if _, err := catalogue.Sync(ctx, d, "main", o.WABAID, good, now); err != nil {
		t.Fatal(err)
	}
	bad := whatsapp.New(whatsapp.Config{App: meta.App{APIURL: f.URL()}, Token: "wrong", WABAID: o.WABAID}, nil)
	if _, err := catalogue.Sync(ctx, d, "main", o.WABAID, bad, now); err == nil {
		t.Fatal("a sync with a bad token succeeded")
	}
	c, err := catalogue.Load(ctx, d)
	if err != nil || len(c.Templates) != 1 {
		t.Fatalf("after a failed sync: %+v, %v", c, err)
	}
}

// A media card carousel template syncs with its cards: lint knows how many
// images and card parameters a send must give, as WhatsApp sends exactly
// the cards the template was approved with.
func TestSyncedCarouselChecksTheCards(t *testing.T) {
	ctx := context.Background()
	d, now, f, client := setup(t)
	card := whatsappfake.Card{Body: "{{1}} за {{2}} ₽", QuickReplies: []string{"Хочу"}}
	f.AddTemplate(whatsappfake.Template{Name: "weekly_menu", Language: "ru", Category: "MARKETING", Body: "Меню недели, {{1}}",
		Cards: []whatsappfake.Card{card, card, card}})
	f.AddTemplate(whatsappfake.Template{Name: "renewal", Language: "ru", Body: "Привет, {{1}}!"})
	if _, err := catalogue.Sync(ctx, d, "main", f.Options().WABAID, client, now); err != nil {
		t.Fatal(err)
	}
	c, err := catalogue.Load(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var menu campaigns.CatalogueTemplate
	for _, x := range c.Templates {
		if x.Name == "weekly_menu" {
			menu = x
		}
	}
	if !reflect.DeepEqual(menu.CardParams, []int{2, 2, 2}) || menu.BodyParams != 1 {
		t.Fatalf("weekly_menu = %+v", menu)
	}
	use := campaigns.TemplateUse{Name: "weekly_menu", Language: "ru", Params: 1, Carousel: true, Images: 3, CardParams: []int{2, 2, 2}}
	if ps := c.Check("main", use, campaigns.TopicMarketing); len(ps) != 0 {
		t.Fatalf("a matching carousel: %+v", ps)
	}
	fields := func(u campaigns.TemplateUse) (out []string) {
		for _, p := range c.Check("main", u, campaigns.TopicMarketing) {
			out = append(out, p.Field)
		}
		return out
	}
	two := use
	two.Images, two.CardParams = 2, []int{2, 2}
	short := use
	short.CardParams = []int{2, 1}
	plain := use
	plain.Carousel, plain.Images, plain.CardParams = false, 0, nil
	notCarousel := campaigns.TemplateUse{Name: "renewal", Language: "ru", Params: 1, Carousel: true, Images: 3}
	for _, tc := range []struct {
		name string
		use  campaigns.TemplateUse
		want []string
	}{
		{"two images for three cards", two, []string{"carousel", "cards"}},
		{"a card short of parameters and one without", short, []string{"cards", "cards"}},
		{"a carousel named without carousel: true", plain, []string{"name"}},
		{"carousel: true on a plain template", notCarousel, []string{"carousel"}},
	} {
		if got := fields(tc.use); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: problems at %q, want %q", tc.name, got, tc.want)
		}
	}
}
