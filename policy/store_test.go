package policy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/testenv"
)

type fixture struct {
	t  testing.TB
	db *sqlx.DB
}

func (f fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f fixture) subscriber(ext, zone string) int64 {
	f.t.Helper()
	var id int64
	if err := f.db.Get(&id, `INSERT INTO subscribers (external_id, time_zone) VALUES ($1, $2) RETURNING id`, ext, zone); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f fixture) consent(sid int64, ch string, topic campaigns.Topic, granted bool) {
	f.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, $2, $3, $4, 'api')`, sid, ch, string(topic), granted)
}

func (f fixture) identity(sid int64, ch, addr string, lastInbound, blocked *time.Time) {
	f.exec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at, blocked_at) VALUES ($1, $2, $3, $4, $5)`, sid, ch, addr, lastInbound, blocked)
}

func (f fixture) message(sid int64, topic campaigns.Topic, sentAt *time.Time) {
	f.exec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at)
	        VALUES (gen_random_uuid()::text, $1, $2, 'telegram', CASE WHEN $3::timestamptz IS NULL THEN 'pending' ELSE 'sent' END, $3)`, sid, string(topic), sentAt)
}

func TestStoreLoad(t *testing.T) {
	f := fixture{t, testenv.DB(t)}
	ctx := context.Background()
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	hourAgo := now.Add(-time.Hour)
	mk := campaigns.TopicMarketing

	// Anna: '*' grant for marketing, then a Telegram revoke; SMS consent only via '*'.
	anna := f.subscriber("anna", "Europe/Berlin")
	f.consent(anna, "*", mk, true)
	f.consent(anna, "telegram", mk, false)
	f.consent(anna, "whatsapp", campaigns.TopicService, true) // other topic: ignored
	f.identity(anna, "telegram", "100", &hourAgo, nil)
	f.identity(anna, "whatsapp", "4915100000", &hourAgo, nil)
	f.identity(anna, "sms", "+4915100000", nil, nil)
	// Boris: Telegram grant, then '*' revoke (unsubscribe from everything).
	boris := f.subscriber("boris", "Not/AZone")
	f.consent(boris, "telegram", mk, true)
	f.consent(boris, "*", mk, false)
	// Vera: revoke then grant again on VK; blocked Telegram identity next to an active one on another account.
	vera := f.subscriber("vera", "America/New_York")
	f.consent(vera, "vk", mk, false)
	f.consent(vera, "vk", mk, true)
	f.consent(vera, "telegram", mk, true)
	blockedAt := now.Add(-2 * time.Hour)
	f.identity(vera, "telegram", "200", &hourAgo, &blockedAt)
	f.identity(vera, "vk", "300", nil, nil)
	// Gleb: only a blocked Telegram identity.
	gleb := f.subscriber("gleb", "Europe/Moscow")
	f.consent(gleb, "telegram", mk, true)
	f.identity(gleb, "telegram", "400", nil, &blockedAt)
	// Egor: grant then revoke on the same channel; the '*' grant is older than both.
	egor := f.subscriber("egor", "Europe/Moscow")
	f.consent(egor, "*", mk, true)
	f.consent(egor, "telegram", mk, true)
	f.consent(egor, "telegram", mk, false)
	f.identity(egor, "telegram", "500", nil, nil)
	// Dasha: marketing messages in and out of the 7-day window, plus other kinds.
	dasha := f.subscriber("dasha", "Europe/Moscow")
	for _, at := range []time.Time{now.Add(-time.Hour), now.Add(-6 * 24 * time.Hour), now.Add(-8 * 24 * time.Hour), now.Add(time.Hour)} {
		f.message(dasha, mk, &at)
	}
	f.message(dasha, mk, nil) // pending: not sent yet, not counted
	in2 := now.Add(-time.Minute)
	f.message(dasha, campaigns.TopicService, &in2) // other topic
	f.message(anna, mk, &in2)

	// Vera is talking to a manager; Gleb's conversation was resolved.
	f.exec(`INSERT INTO conversations (subscriber_id, channel, reason, opened_at) VALUES ($1, 'vk', 'handoff', now())`, vera)
	f.exec(`INSERT INTO conversations (subscriber_id, channel, reason, state, opened_at, resolved_at) VALUES ($1, 'telegram', 'handoff', 'resolved', now(), now())`, gleb)

	st := campaigns.Settings{FrequencyCap: &campaigns.FrequencyCap{Max: 2, Per: campaigns.Duration(7 * 24 * time.Hour)}}
	s := NewStore(f.db)
	all, err := s.LoadMany(ctx, []int64{anna, boris, vera, gleb, dasha, egor, 999999}, mk, st, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("LoadMany returned %d inputs, want 6 (unknown ids left out)", len(all))
	}
	type want struct {
		consent map[channels.Kind]bool
		idents  map[channels.Kind]Identity
		sent    int
		zone    string
	}
	cases := map[int64]want{
		anna: {
			consent: map[channels.Kind]bool{channels.Telegram: false, channels.SMS: true, channels.WhatsApp: true, channels.Email: true},
			idents: map[channels.Kind]Identity{channels.Telegram: {Address: "100", LastInboundAt: &hourAgo},
				channels.WhatsApp: {Address: "4915100000", LastInboundAt: &hourAgo}, channels.SMS: {Address: "+4915100000"}},
			sent: 1, zone: "Europe/Berlin",
		},
		boris: {consent: map[channels.Kind]bool{channels.Telegram: false, channels.SMS: false}, zone: "UTC"},
		vera: {
			consent: map[channels.Kind]bool{channels.VK: true, channels.Telegram: true, channels.SMS: false},
			idents:  map[channels.Kind]Identity{channels.Telegram: {Address: "200", LastInboundAt: &hourAgo, Blocked: true}, channels.VK: {Address: "300"}},
			zone:    "America/New_York",
		},
		gleb:  {consent: map[channels.Kind]bool{channels.Telegram: true}, idents: map[channels.Kind]Identity{channels.Telegram: {Address: "400", Blocked: true}}, zone: "Europe/Moscow"},
		dasha: {sent: 2, zone: "Europe/Moscow"},
		egor: {consent: map[channels.Kind]bool{channels.Telegram: false, channels.SMS: true},
			idents: map[channels.Kind]Identity{channels.Telegram: {Address: "500"}}, zone: "Europe/Moscow"},
	}
	for id, w := range cases {
		in := all[id]
		for ch, c := range w.consent {
			if in.Consent[ch] != c {
				t.Errorf("subscriber %d consent[%s] = %v, want %v", id, ch, in.Consent[ch], c)
			}
		}
		if len(in.Identities) != len(w.idents) {
			t.Errorf("subscriber %d has %d identities, want %d: %+v", id, len(in.Identities), len(w.idents), in.Identities)
		}
		for ch, wi := range w.idents {
			gi := in.Identities[ch]
			if gi.Address != wi.Address || gi.Blocked != wi.Blocked || (gi.LastInboundAt == nil) != (wi.LastInboundAt == nil) ||
				(gi.LastInboundAt != nil && !gi.LastInboundAt.Equal(*wi.LastInboundAt)) {
				t.Errorf("subscriber %d identity[%s] = %+v, want %+v", id, ch, gi, wi)
			}
		}
		if in.SentInCapWindow != w.sent {
			t.Errorf("subscriber %d SentInCapWindow = %d, want %d", id, in.SentInCapWindow, w.sent)
		}
		if in.Location.String() != w.zone {
			t.Errorf("subscriber %d zone = %s, want %s", id, in.Location, w.zone)
		}
		if in.Topic != mk || !in.Now.Equal(now) || in.HandoffOpen != (id == vera) {
			t.Errorf("subscriber %d: topic/now/handoff = %s/%s/%v", id, in.Topic, in.Now, in.HandoffOpen)
		}
	}

	// The loaded inputs drive Decide end to end.
	cand := []channels.Kind{channels.Telegram, channels.VK, channels.SMS}
	if d := Decide(all[anna], cand); !d.Send || d.Channel != channels.SMS {
		t.Errorf("Decide(anna) = %+v, want send on sms", d)
	}
	if d := Decide(all[vera], cand); d.Send || d.Channel != channels.VK || d.Reason != ReasonHandoffOpen {
		t.Errorf("Decide(vera) = %+v, want marketing paused by the open conversation", d)
	}
	if d := Decide(all[gleb], cand); d.Send || d.Reason != ReasonBlocked {
		t.Errorf("Decide(gleb) = %+v, want blocked", d)
	}
	if d := Decide(all[boris], cand); d.Send || d.Reason != ReasonNoConsent {
		t.Errorf("Decide(boris) = %+v, want no_consent", d)
	}

	one, err := s.Load(ctx, anna, mk, st, now)
	if err != nil || one.SentInCapWindow != 1 || one.Consent[channels.Telegram] || !one.Consent[channels.SMS] {
		t.Errorf("Load(anna) = %+v, %v", one, err)
	}
	if _, err := s.Load(ctx, 999999, mk, st, now); err == nil {
		t.Error("Load of an unknown subscriber succeeded")
	}
	// Without a cap the messages are not counted.
	nocap, err := s.Load(ctx, dasha, mk, campaigns.Settings{}, now)
	if err != nil || nocap.SentInCapWindow != 0 {
		t.Errorf("Load without cap = %+v, %v", nocap, err)
	}
	// Erasure leaves the row but nothing to send to.
	f.exec(`UPDATE subscribers SET erased_at = now() WHERE id = $1`, anna)
	erased, err := s.Load(ctx, anna, mk, st, now)
	if err != nil || len(erased.Consent) != 0 || len(erased.Identities) != 0 {
		t.Errorf("Load(erased) = %+v, %v", erased, err)
	}
}

func BenchmarkLoadMany(b *testing.B) {
	f := fixture{b, testenv.DB(b)}
	const n = 10000
	f.exec(`INSERT INTO subscribers (external_id, time_zone)
	        SELECT 'b' || g, (ARRAY['Europe/Moscow','Europe/Berlin','America/New_York'])[1 + g % 3] FROM generate_series(1, $1) g`, n)
	f.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
	        SELECT id, CASE WHEN id % 2 = 0 THEN '*' ELSE 'telegram' END, 'marketing', true, 'import' FROM subscribers`)
	f.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
	        SELECT id, 'sms', 'marketing', false, 'api' FROM subscribers WHERE id % 5 = 0`)
	f.exec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at)
	        SELECT id, 'telegram', 'tg' || id, now() - interval '3 days' FROM subscribers`)
	f.exec(`INSERT INTO channel_identities (subscriber_id, channel, address)
	        SELECT id, 'sms', '+7999' || id FROM subscribers`)
	f.exec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at)
	        SELECT 'm' || id || '-' || k, id, 'marketing', 'telegram', 'sent', now() - k * interval '1 day'
	          FROM subscribers, generate_series(1, 3) k`)
	f.exec(`ANALYZE`)
	var ids []int64
	if err := f.db.Select(&ids, `SELECT id FROM subscribers ORDER BY id`); err != nil {
		b.Fatal(err)
	}
	s := NewStore(f.db)
	st := campaigns.Settings{FrequencyCap: &campaigns.FrequencyCap{Max: 2, Per: campaigns.Duration(7 * 24 * time.Hour)}}
	now := time.Now()
	// The 10k-subscriber database is built once: the sub-benchmark is the
	// one the framework calls repeatedly.
	b.Run("10k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := s.LoadMany(context.Background(), ids, campaigns.TopicMarketing, st, now)
			if err != nil || len(m) != n {
				b.Fatal(fmt.Sprint(len(m), err))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/subscriber")
	})
}
