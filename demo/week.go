package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/subscribers"
)

// Person is one simulated customer.
type Person struct {
	Ext, Name, Locale, TZ string
	Channel               channels.Kind
	Chat                  int64
	ViberID               string
	Phone, Email          string
	Persona               string // like | dislike | praise | complain | silent
	Blocks                bool   // blocks the Telegram bot after opting in
	SMSFails              bool   // the SMS never arrives (unreachable handset)
	Renews                bool   // renews after the Friday reminder
	ReadsEmail            bool
}

var (
	demoNamesRU = []string{"Анна", "Иван", "Мария", "Олег", "Елена", "Дмитрий", "Ольга", "Сергей", "Наталья", "Павел"}
	demoNamesEN = []string{"Emma", "Liam", "Olivia", "Noah"}
	demoZones   = []string{"Europe/Moscow", "Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Kaliningrad"}
	Persona     = []string{"like", "like", "praise", "like", "dislike", "like", "silent", "complain", "like", "praise"}
)

// Address is the customer's address on their messenger: the Telegram chat
// id or the Viber user id.
func (p Person) Address() string {
	if p.Channel == channels.Viber {
		return p.ViberID
	}
	return strconv.FormatInt(p.Chat, 10)
}

// People makes n simulated customers, the same for the same n.
func People(n int) []Person {
	r := rand.New(rand.NewPCG(7, 42))
	out := make([]Person, n)
	for i := range out {
		p := Person{Ext: fmt.Sprintf("gf-%04d", i+1), Locale: "ru", Persona: Persona[i%len(Persona)],
			Phone: fmt.Sprintf("+7999%07d", 1000000+i), Email: fmt.Sprintf("customer%d@example.com", i+1),
			Renews: r.IntN(100) < 45, ReadsEmail: r.IntN(100) < 60}
		if i%4 == 3 {
			p.Locale, p.Name, p.TZ = "en", demoNamesEN[i%len(demoNamesEN)], "Europe/Berlin"
		} else {
			p.Name, p.TZ = demoNamesRU[i%len(demoNamesRU)], demoZones[i%len(demoZones)]
		}
		if i%5 < 3 {
			p.Channel, p.Chat = channels.Telegram, int64(500000+i)
			p.Blocks = i%10 == 1
			p.SMSFails = i%20 == 1
		} else {
			p.Channel, p.ViberID = channels.Viber, viberfake.UserID(i)
		}
		out[i] = p
	}
	return out
}

// Seed applies the campaigns and brings the customers in the way a shop
// would: its backend upserts them with the checkout's consent for SMS and
// email, and each opens the messenger deep link (a code bound to them) and
// presses Start, which reaches Nudge as the provider's webhook.
func Seed(ctx context.Context, d *sqlx.DB, f *fakes.Set, people []Person, now func() time.Time, w io.Writer) error {
	files, err := campaigns.LoadAll("examples/growfood")
	if err != nil {
		return fmt.Errorf("load examples/growfood (run the demo from the repository root): %w", err)
	}
	store := campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter()))
	for _, file := range files {
		v, created, err := store.Apply(ctx, file)
		if err != nil {
			return fmt.Errorf("apply %s: %w", file.Path, err)
		}
		state := "unchanged"
		if created {
			state = "new version"
		}
		fmt.Fprintf(w, "  campaign %-16s v%d %s (%s)\n", v.CampaignID, v.Number, v.Version, state)
	}
	subs := subscribers.NewStore(d, now)
	ledger, codes := consent.NewLedger(), consent.NewCodes(now)
	for _, p := range people {
		sub, _, err := subs.Upsert(ctx, subscribers.Input{ExternalID: p.Ext, Name: &p.Name, Locale: &p.Locale, TimeZone: &p.TZ,
			Attributes: map[string]any{"subscription_status": "active", "plan": "5 days"},
			Identities: []subscribers.IdentityInput{{Channel: channels.SMS, Address: p.Phone}, {Channel: channels.Email, Address: p.Email}}})
		if err != nil {
			return fmt.Errorf("upsert %s: %w", p.Ext, err)
		}
		for _, ch := range []channels.Kind{channels.SMS, channels.Email} {
			for _, topic := range []campaigns.Topic{campaigns.TopicService, campaigns.TopicMarketing} {
				if err := ledger.Grant(ctx, d, consent.Change{SubscriberID: sub.ID, Channel: ch, Topic: topic, Source: consent.SourceAPI,
					Proof: consent.Proof{TextVersion: "checkout-2026-11", Note: "checkout checkbox",
						Attribution: map[string]string{"utm_source": "checkout"}}}); err != nil {
					return err
				}
			}
		}
		code, err := codes.Create(ctx, d, consent.NewCode{SubscriberID: sub.ID, Source: consent.SourceJWTLink,
			Topics:      []campaigns.Topic{campaigns.TopicService, campaigns.TopicMarketing},
			Attribution: consent.Attribution{UTMSource: "account", UTMCampaign: "growfood-week"}, TTL: 30 * 24 * time.Hour})
		if err != nil {
			return err
		}
		// The customer opens the deep link and starts the bot: the same
		// control call the fakes' chat pages and nudge-fakes make.
		user := p.Address()
		f.Name(p.Channel, user, p.Name+" ("+p.Ext+")")
		f.Name(channels.SMS, p.Phone, p.Name+" ("+p.Ext+")")
		f.Name(channels.Email, p.Email, p.Name+" ("+p.Ext+")")
		if _, err := f.Do(ctx, p.Channel, "start", fakes.Action{User: user, Code: code.Code}); err != nil {
			return fmt.Errorf("%s start: %w", p.Channel, err)
		}
		if p.Blocks {
			if _, err := f.Do(ctx, p.Channel, "plan", fakes.Action{User: user, Plan: fakes.PlanBlocked}); err != nil {
				return err
			}
		}
		if p.SMSFails {
			f.SMS.SetPlan(p.Phone, smsfake.Plan{ErrorCode: "30003"})
		}
	}
	// Last week's deliveries: each order's feedback question falls due during
	// the first days of the demo week.
	start := now()
	var evs []subscribers.Event
	for i, p := range people {
		at := start.Add(-7*24*time.Hour + time.Duration(i*53)*time.Minute)
		evs = append(evs, subscribers.Event{ExternalID: p.Ext, Name: "order.delivered", OccurredAt: &at,
			Payload: map[string]any{"order_id": fmt.Sprintf("GF-%06d", 300000+i)}, IdempotencyKey: "demo-order-" + p.Ext})
	}
	_, err = subs.AddEvents(ctx, evs)
	return err
}

// triggerReceipts pays a new order for some customers: the shop's backend
// calls the transactional trigger API, and the e-receipt goes out at once.
func triggerReceipts(ctx context.Context, base, apiKey string, people []Person, now time.Time) error {
	for i, p := range people {
		if i%4 != 0 {
			continue
		}
		order := fmt.Sprintf("GF-%06d", 400000+i)
		body, _ := json.Marshal(map[string]any{"subscriber": p.Ext, "payload": map[string]any{
			"order_id": order, "paid_at": now.Format(time.RFC3339), "currency": "RUB", "total": 4590.5,
			"items": []map[string]any{
				{"name": "Рацион «Баланс», 5 дней", "qty": 1, "price": 4290.5},
				{"name": "Смузи манго-маракуйя", "qty": 2, "price": 150},
			},
			"fiscal_sign": fmt.Sprintf("%010d", 3_000_000_000+i), "receipt_url": "https://growfood.example/receipts/" + order,
		}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/campaigns/order-receipt/trigger", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "demo-receipt-"+order)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("trigger receipt: %w", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("trigger receipt for %s: %d %s", p.Ext, resp.StatusCode, msg)
		}
	}
	return nil
}

// demoCustomers answers what the bot sends, like the customers of the
// GrowFood case: most like the food, some do not, some stay silent; some
// renew after the Friday reminder; some open their email.
type demoCustomers struct {
	f                        *fakes.Set
	subs                     *subscribers.Store
	now                      func() time.Time
	after                    func(time.Duration, func())
	byChat                   map[int64]Person
	byUser                   map[string]Person
	byMail                   map[string]Person
	seenTG, seenVB, seenMail int
	mu                       sync.Mutex
	errs                     []error
	rnd                      *rand.Rand
}

func (c *demoCustomers) fail(err error) {
	if err != nil {
		c.mu.Lock()
		c.errs = append(c.errs, err)
		c.mu.Unlock()
	}
}

// tick reacts to everything sent since the last tick.
func (c *demoCustomers) tick(ctx context.Context) {
	tg := c.f.Telegram.Sent()
	for _, m := range tg[c.seenTG:] {
		p, ok := c.byChat[m.ChatID]
		if !ok {
			continue
		}
		ask, renew := false, false
		for _, row := range m.Keyboard {
			for _, b := range row {
				ask = ask || b.CallbackData == "like"
				renew = renew || strings.Contains(b.URL, "/renew")
			}
		}
		c.react(ctx, p, ask, renew, strconv.FormatInt(m.MessageID, 10))
	}
	c.seenTG = len(tg)
	vb := c.f.Viber.Sent()
	for _, m := range vb[c.seenVB:] {
		p, ok := c.byUser[m.Receiver]
		if !ok {
			continue
		}
		ask, renew := false, false
		for _, b := range m.Keyboard {
			ask = ask || b.ActionBody == "like"
			renew = renew || strings.Contains(b.ActionBody, "/renew")
		}
		c.react(ctx, p, ask, renew, strconv.FormatInt(m.MessageToken, 10))
	}
	c.seenVB = len(vb)
	mail := c.f.Email.Messages()
	for _, m := range mail[c.seenMail:] {
		p, ok := c.byMail[strings.ToLower(strings.Trim(m.To[0], "<>"))]
		if ok && p.ReadsEmail {
			m := m
			c.after(time.Duration(1+c.rnd.IntN(6))*time.Hour, func() { c.fail(emailfake.Open(ctx, http.DefaultClient, m)) })
		}
	}
	c.seenMail = len(mail)
}

func (c *demoCustomers) react(ctx context.Context, p Person, ask, renew bool, msgID string) {
	// People take minutes to answer (at the demo's speed, a reply a few
	// seconds after the send could even beat the run to its wait step).
	delay := time.Duration(20+c.rnd.IntN(100)) * time.Minute
	switch {
	case renew && p.Renews:
		c.after(delay+time.Duration(c.rnd.IntN(20))*time.Hour, func() {
			at := c.now()
			_, err := c.subs.AddEvents(ctx, []subscribers.Event{{ExternalID: p.Ext, Name: "subscription.renewed", OccurredAt: &at,
				IdempotencyKey: "demo-renewed-" + p.Ext + "-" + c.now().Format("2006-01-02")}})
			c.fail(err)
		})
	case ask:
		var press, text string
		switch p.Persona {
		case "like":
			press = "like"
		case "dislike":
			press = "dislike"
		case "praise":
			text = map[string]string{"ru": "Очень вкусно, спасибо! Особенно понравился суп", "en": "Loved it, the soup was great"}[p.Locale]
		case "complain":
			text = map[string]string{"ru": "Не понравилось: курица была сухая, а салат завял", "en": "Not good: the chicken was dry and the salad wilted"}[p.Locale]
		default:
			return // silent
		}
		c.after(delay, func() { c.fail(c.answer(ctx, p, press, text, msgID)) })
	}
}

// answer plays the customer's press of a button of message msgID, or a
// text, through the fakes' control call (as the chat pages do).
func (c *demoCustomers) answer(ctx context.Context, p Person, press, text, msgID string) error {
	a := fakes.Action{User: p.Address(), Text: text}
	action := "text"
	if press != "" {
		action, a = "press", fakes.Action{User: p.Address(), Data: press, MessageID: msgID}
	}
	st, err := c.f.Do(ctx, p.Channel, action, a)
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("%s %s of %s: the webhook answered %d", p.Channel, action, p.Ext, st)
	}
	return err
}

// printFunnels prints each campaign's funnel and channel use.
func printFunnels(ctx context.Context, w io.Writer, d *sqlx.DB) error {
	an := analytics.New(d)
	cs, err := an.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		f, err := an.Funnel(ctx, c.ID, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s — %s\n", c.ID, f.Name)
		for _, s := range f.Steps() {
			fmt.Fprintf(w, "  %-17s %5d  %5.1f%%\n", s.Label, s.N, 100*s.Rate)
		}
		if f.Holdout > 0 {
			fmt.Fprintf(w, "  %-17s %5d\n", "Holdout", f.Holdout)
		}
		if len(f.NoReads) > 0 {
			fmt.Fprintf(w, "  (%s report no reads: Read can trail Replied)\n", strings.Join(f.NoReads, ", "))
		}
		if g := f.Goal; g != nil && g.Uplift != nil {
			fmt.Fprintf(w, "  goal %s: treated %.0f%%, holdout %.0f%%\n", g.Event, 100*g.TreatedRate, 100*g.HoldoutRate)
		}
		ch, err := an.Channels(ctx, c.ID, "")
		if err != nil {
			return err
		}
		sort.Slice(ch, func(i, j int) bool { return ch[i].Channel < ch[j].Channel })
		var parts []string
		for _, u := range ch {
			parts = append(parts, fmt.Sprintf("%s %d first / %d fallback / %d delivered / %d failed", u.Channel, u.First, u.Fallback, u.Delivered, u.Failed))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  channels: %s\n", strings.Join(parts, "; "))
		}
	}
	return nil
}
