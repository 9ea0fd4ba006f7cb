package subscribers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/subscribers"
)

// fixedClock is a settable clock.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

type bundle struct {
	db    *sqlx.DB
	store *subscribers.Store
	clock *fixedClock
}

func setup(t *testing.T) bundle {
	t.Helper()
	d := testenv.DB(t)
	c := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return bundle{db: d, store: subscribers.NewStore(d, c.Now), clock: c}
}

func ptr[T any](v T) *T { return &v }

func TestUpsertAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s, created, err := b.store.Upsert(ctx, subscribers.Input{
		ExternalID: "c-1", Name: ptr("Анна"), TimeZone: ptr("Asia/Yekaterinburg"),
		Attributes: map[string]any{"plan": "weekly", "meals": 5},
		Identities: []subscribers.IdentityInput{
			{Channel: channels.Telegram, Address: "123456"},
			{Channel: channels.WhatsApp, Address: "+7 (999) 123-45-67"},
			{Channel: channels.Email, Address: "Anna@Example.com"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !created || s.Name != "Анна" || s.Locale != "ru" || s.TimeZone != "Asia/Yekaterinburg" {
		t.Fatalf("created=%v s=%+v", created, s)
	}
	if len(s.Identities) != 3 {
		t.Fatalf("identities = %+v", s.Identities)
	}
	addrs := map[channels.Kind]string{}
	for _, id := range s.Identities {
		addrs[id.Channel] = id.Address
	}
	if addrs[channels.WhatsApp] != "+79991234567" || addrs[channels.Email] != "anna@example.com" {
		t.Fatalf("addresses not normalised: %v", addrs)
	}

	// Second upsert merges attributes, removes a key set to null, keeps the name.
	b.clock.t = b.clock.t.Add(time.Hour)
	s2, created, err := b.store.Upsert(ctx, subscribers.Input{
		ExternalID: "c-1", Locale: ptr("en"),
		Attributes: map[string]any{"meals": nil, "city": "Казань"},
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Address: "123456"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created || s2.ID != s.ID || s2.Name != "Анна" || s2.Locale != "en" {
		t.Fatalf("second upsert: created=%v %+v", created, s2)
	}
	want := map[string]any{"plan": "weekly", "city": "Казань"}
	if fmt.Sprint(s2.Attributes) != fmt.Sprint(want) {
		t.Fatalf("attributes = %v, want %v", s2.Attributes, want)
	}
	if !s2.UpdatedAt.Equal(b.clock.t) {
		t.Fatalf("updated_at = %v, want %v", s2.UpdatedAt, b.clock.t)
	}

	got, err := b.store.Get(ctx, "c-1")
	if err != nil || got.ID != s.ID || len(got.Identities) != 3 {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := b.store.Get(ctx, "nobody"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestUpsertIdentityConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "a",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Address: "42"}}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "b", Name: ptr("Борис"),
		Identities: []subscribers.IdentityInput{
			{Channel: channels.Email, Address: "b@example.com"},
			{Channel: channels.Telegram, Address: "42"},
		}})
	var ce *subscribers.ConflictError
	if !errors.As(err, &ce) || ce.Field != "identities[1].address" {
		t.Fatalf("err = %v, want conflict on identities[1].address", err)
	}
	// The transaction rolled back: b does not exist, the email is free.
	if _, err := b.store.Get(ctx, "b"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("b after conflict: %v", err)
	}
}

func TestUpsertValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		name  string
		in    subscribers.Input
		field string
	}{
		{"no external id", subscribers.Input{}, "external_id"},
		{"bad zone", subscribers.Input{ExternalID: "x", TimeZone: ptr("Mars/Olympus")}, "time_zone"},
		{"local zone", subscribers.Input{ExternalID: "x", TimeZone: ptr("Local")}, "time_zone"},
		{"bad locale", subscribers.Input{ExternalID: "x", Locale: ptr("Russian")}, "locale"},
		{"bad attr key", subscribers.Input{ExternalID: "x", Attributes: map[string]any{"a b": 1}}, "attributes.a b"},
		{"bad channel", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{{Channel: "icq", Address: "1"}}}, "identities[0].channel"},
		{"bad phone", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{
			{Channel: channels.Telegram, Address: "1"}, {Channel: channels.SMS, Address: "+7 12"}}}, "identities[1].address"},
		{"bad email", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{{Channel: channels.Email, Address: "Anna <a@b.c>"}}}, "identities[0].address"},
		{"bad telegram", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Address: "@anna"}}}, "identities[0].address"},
		{"bad vk", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{{Channel: channels.VK, Address: "id1"}}}, "identities[0].address"},
		{"empty viber", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{{Channel: channels.Viber, Address: " "}}}, "identities[0].address"},
		{"duplicate identity", subscribers.Input{ExternalID: "x", Identities: []subscribers.IdentityInput{
			{Channel: channels.VK, Address: "5"}, {Channel: channels.VK, Address: "005"}}}, "identities[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := b.store.Upsert(context.Background(), c.in)
			var fe *subscribers.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want field %s", err, c.field)
			}
		})
	}
}

func TestListFiltersAndKeysetPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		in := subscribers.Input{ExternalID: fmt.Sprintf("c-%02d", i), Attributes: map[string]any{"plan": "daily"}}
		if i%2 == 0 {
			in.Attributes["plan"] = "weekly"
			in.Locale = ptr("en")
		}
		if i%5 == 0 {
			in.Identities = []subscribers.IdentityInput{{Channel: channels.Telegram, Address: fmt.Sprint(1000 + i)}}
		}
		if i >= 20 {
			in.TimeZone = ptr("Asia/Novosibirsk")
		}
		b.clock.t = b.clock.t.Add(time.Minute)
		if _, _, err := b.store.Upsert(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	all := func(f subscribers.Filter) []string {
		var out []string
		for pages := 0; ; pages++ {
			p, err := b.store.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Subscribers) > f.Limit && f.Limit > 0 {
				t.Fatalf("page of %d > limit %d", len(p.Subscribers), f.Limit)
			}
			for _, s := range p.Subscribers {
				out = append(out, s.ExternalID)
			}
			if p.Next == "" {
				return out
			}
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			f.Cursor = p.Next
		}
	}
	if got := all(subscribers.Filter{Limit: 4}); len(got) != 25 || got[0] != "c-00" || got[24] != "c-24" {
		t.Fatalf("all pages: %v", got)
	}
	cases := []struct {
		name string
		f    subscribers.Filter
		want string
	}{
		{"locale", subscribers.Filter{Locale: "en", Limit: 5}, "[c-00 c-02 c-04 c-06 c-08 c-10 c-12 c-14 c-16 c-18 c-20 c-22 c-24]"},
		{"attr", subscribers.Filter{Attributes: map[string]string{"plan": "daily"}, TimeZone: "Asia/Novosibirsk"}, "[c-21 c-23]"},
		{"channel", subscribers.Filter{Channel: channels.Telegram, Limit: 2}, "[c-00 c-05 c-10 c-15 c-20]"},
		{"created after", subscribers.Filter{CreatedAfter: time.Date(2026, 3, 1, 12, 23, 0, 0, time.UTC)}, "[c-23 c-24]"},
		{"nothing", subscribers.Filter{Attributes: map[string]string{"plan": "monthly"}}, "[]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(all(c.f)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	if _, err := b.store.List(ctx, subscribers.Filter{Cursor: "bm90LWEtY3Vyc29y"}); err == nil {
		t.Fatal("a forged cursor was accepted")
	}
}

func TestEraseKeepsConsentPseudonymised(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "c-9", Name: ptr("Вера"),
		Attributes: map[string]any{"plan": "weekly"},
		Identities: []subscribers.IdentityInput{{Channel: channels.SMS, Address: "+79990001122"}}})
	if err != nil {
		t.Fatal(err)
	}
	b.db.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof) VALUES
		($1, 'telegram', 'marketing', true, 'widget', '{"ip":"203.0.113.9","user_agent":"Mozilla","text_version":"v3","jti":"abc"}'),
		($1, '*', 'service', true, 'import', '{"text":"checkout box"}'),
		($1, 'sms', 'marketing', false, 'dialog', '{"phone":"+79990001122","message_id":"m1"}')`, s.ID)
	b.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'order.delivered', now())`, s.ID)

	pseudo, err := b.store.Erase(ctx, "c-9")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Get(ctx, "c-9"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("erased subscriber still found by external id: %v", err)
	}
	got, err := b.store.GetByID(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExternalID != pseudo || got.Name != "" || len(got.Attributes) != 0 || len(got.Identities) != 0 || got.ErasedAt == nil {
		t.Fatalf("after erase: %+v", got)
	}
	var proofs []string
	if err := b.db.Select(&proofs, `SELECT proof::text FROM consent_events WHERE subscriber_id = $1 ORDER BY id`, s.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// The JWT id goes too: the shop's logs tie it to the customer.
		fmt.Sprintf(`{"ip": %q, "jti": %q, "user_agent": %q, "text_version": "v3"}`, pseudo, pseudo, pseudo),
		`{"text": "checkout box"}`,
		fmt.Sprintf(`{"phone": %q, "message_id": "m1"}`, pseudo),
	}
	if fmt.Sprint(proofs) != fmt.Sprint(want) {
		t.Fatalf("proofs:\n%q\nwant\n%q", proofs, want)
	}
	// Events stay for campaign goals, with name and time only.
	var events int
	b.db.Get(&events, `SELECT count(*) FROM subscriber_events WHERE subscriber_id = $1 AND (payload <> '{}' OR idempotency_key IS NOT NULL)`, s.ID)
	if events != 0 {
		t.Fatalf("%d events with payload or key left after erase", events)
	}
	if _, err := b.store.Erase(ctx, "c-9"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("second erase: %v", err)
	}
	// Neither by the pseudonym nor by id: an erased subscriber is not erased again.
	if _, err := b.store.Erase(ctx, pseudo); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("erase by the pseudonym: %v", err)
	}
	if _, err := b.store.EraseByID(ctx, s.ID); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("second erase by id: %v", err)
	}
	if _, err := b.store.EraseByID(ctx, s.ID+1000); !errors.Is(err, subscribers.ErrNotFound) {
		t.Fatalf("erase of no such id: %v", err)
	}
	if again, _ := b.store.GetByID(ctx, s.ID); again.ExternalID != pseudo {
		t.Fatalf("a second erase changed the pseudonym: %q, want %q", again.ExternalID, pseudo)
	}
	// The erased identity is free for a new subscriber.
	if _, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "c-10",
		Identities: []subscribers.IdentityInput{{Channel: channels.SMS, Address: "+79990001122"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestAddEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: id}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC)
	res, err := b.store.AddEvents(ctx, []subscribers.Event{
		{ExternalID: "a", Name: "order.delivered", OccurredAt: &at, Payload: map[string]any{"order_id": "o-1"}, IdempotencyKey: "o-1"},
		{ExternalID: "b", Name: "subscription.renewed"},
		{ExternalID: "a", Name: "order.delivered", IdempotencyKey: "o-1"}, // duplicate in the batch
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Duplicates != 1 {
		t.Fatalf("result %+v", res)
	}
	// Re-posting the keyed event is a duplicate.
	res, err = b.store.AddEvents(ctx, []subscribers.Event{{ExternalID: "a", Name: "order.delivered", IdempotencyKey: "o-1"}})
	if err != nil || res.Accepted != 0 || res.Duplicates != 1 {
		t.Fatalf("repost: %+v %v", res, err)
	}
	// A batch with an unknown subscriber and a bad name stores nothing and names each index.
	_, err = b.store.AddEvents(ctx, []subscribers.Event{
		{ExternalID: "a", Name: "ok"},
		{ExternalID: "ghost", Name: "order.delivered"},
		{ExternalID: "b", Name: "bad name"},
	})
	var be *subscribers.BatchError
	if !errors.As(err, &be) || len(be.Items) != 2 || be.Items[0].Field != "events[1].external_id" || be.Items[1].Field != "events[2].name" {
		t.Fatalf("err = %v", err)
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM subscriber_events`)
	if n != 2 {
		t.Fatalf("%d events stored, want 2", n)
	}
	var occurred time.Time
	b.db.Get(&occurred, `SELECT occurred_at FROM subscriber_events WHERE idempotency_key = 'o-1'`)
	if !occurred.Equal(at) {
		t.Fatalf("occurred_at = %v", occurred)
	}
}

// The API binds an identity to the account it names (main by default): the
// same chat id on two bots belongs to two subscribers without conflict,
// and a taken one on the same bot conflicts.
func TestUpsertIdentityAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "a",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "brand-b", Address: "42"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Identities) != 1 || a.Identities[0].Account != "brand-b" {
		t.Fatalf("identities %+v", a.Identities)
	}
	bb, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "b",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Address: "42"}}})
	if err != nil {
		t.Fatalf("the same chat id on main: %v", err)
	}
	if len(bb.Identities) != 1 || bb.Identities[0].Account != channels.DefaultAccount {
		t.Fatalf("identities %+v", bb.Identities)
	}
	_, _, err = b.store.Upsert(ctx, subscribers.Input{ExternalID: "c",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "brand-b", Address: "42"}}})
	var ce *subscribers.ConflictError
	if !errors.As(err, &ce) || ce.Field != "identities[0].address" {
		t.Fatalf("taken on brand-b: %v", err)
	}
	_, _, err = b.store.Upsert(ctx, subscribers.Input{ExternalID: "d",
		Identities: []subscribers.IdentityInput{{Channel: channels.Telegram, Account: "Brand B", Address: "43"}}})
	var fe *subscribers.FieldError
	if !errors.As(err, &fe) || fe.Field != "identities[0].account" {
		t.Fatalf("bad account: %v", err)
	}
}

// A part's error reaches the caller once named: the part, then what its
// statement failed to erase or read (db.Erase, db.Export), not the verb twice.
func TestPartErrorsNameThePartOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: "c-10", Name: ptr("Олег")}); err != nil {
		t.Fatal(err)
	}
	broken := b.store.WithParts(subscribers.PartByID("links",
		func(ctx context.Context, q db.Executor, id int64) error {
			return db.Erase(ctx, q, "links", `DELETE FROM no_such_table WHERE id = $1`, id)
		},
		func(ctx context.Context, q db.Executor, id int64) (json.RawMessage, error) {
			return db.Export(ctx, q, "links", `SELECT x FROM no_such_table WHERE id = $1`, id)
		}))
	_, err := broken.Export(ctx, "c-10")
	if err == nil || !strings.Contains(err.Error(), "links: export links: ") || strings.Contains(err.Error(), "export links: export links") {
		t.Errorf("export: %v, want it to name the part, then the rows, once", err)
	}
	_, err = broken.Erase(ctx, "c-10")
	if err == nil || !strings.Contains(err.Error(), "links: erase links: ") || strings.Contains(err.Error(), "erase links: erase links") {
		t.Errorf("erase: %v, want it to name the part, then the rows, once", err)
	}
	if _, err := b.store.Get(ctx, "c-10"); err != nil {
		t.Fatalf("a failed erase left the subscriber changed: %v", err)
	}
}
