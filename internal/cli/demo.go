package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// demoCustomer is the customer the demo seeds and signs links for.
var demoCustomer = consent.Customer{ExternalID: "growfood-demo-1", Name: "Анна", Locale: "ru", TimeZone: "Europe/Moscow"}

// demoTargets are deep-link targets used when no channel is configured, so
// the widget shows every button. They point at no real bot.
var demoTargets = consent.Config{
	TelegramBot: "GrowFoodDemoBot", ViberURI: "growfooddemo", WhatsAppNumber: "79990000000",
	MessengerPage: "growfood.demo", VKGroup: "growfood_demo",
}

// demoEnv is what the printed links are made from.
type demoEnv struct {
	consent  consent.Config
	signer   *jwtlink.Key // nil when the configured keys are the shop's own
	loopback bool         // listening on a loopback address only
	apiKey   string
	now      func() time.Time
}

// demoOptions are the flags of `nudge demo`.
type demoOptions struct {
	addr      string
	days      int
	scale     float64
	customers int
	exit      bool
}

func (a *App) demoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the GrowFood week on the bundled example against fake Telegram, Viber, SMS and email providers",
		Long: `demo runs the whole engine on examples/growfood in one process: it starts
wire-protocol fakes of Telegram, Viber, Twilio SMS and an SMTP server on loopback,
points the real channel adapters at them, applies the campaigns, brings in
customers through their messenger deep links, posts last week's deliveries, and
runs a week of flow time on a fast clock (--scale) while simulated customers
answer: most like the food, some do not (handed to the care queue), some stay
silent, some renew after the Friday reminder; blocked chats fall back to SMS
and unreachable phones to email. It then prints the funnel per campaign, the
dashboard URL and the logins, and serves until Ctrl-C. With --days 0 it only
serves and prints the opt-in links.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "", "listen address (default $NUDGE_HTTP_ADDR)")
	cmd.Flags().IntVar(&o.days, "days", 7, "days of flow time to run (0: only serve and print links)")
	cmd.Flags().Float64Var(&o.scale, "scale", 6000, "how many times faster than real time the week runs")
	cmd.Flags().IntVar(&o.customers, "customers", 40, "simulated customers")
	cmd.Flags().BoolVar(&o.exit, "exit", false, "exit after printing the funnel instead of serving")
	return cmd
}

func (a *App) runDemo(ctx context.Context, o demoOptions) error {
	if o.scale <= 0 || o.customers < 1 || o.days < 0 {
		return fmt.Errorf("--scale must be positive, --customers at least 1 and --days not negative")
	}
	core, err := a.Core()
	if err != nil {
		return err
	}
	if o.addr == "" {
		o.addr = core.HTTPAddr
	}
	addr, err := freeAddr(o.addr)
	if err != nil {
		return err
	}
	base := core.BaseURL
	if a.Env.String("NUDGE_BASE_URL", "") == "" {
		base = "http://" + addr
	}
	// The week starts next Monday 08:00 Moscow time, on a fast clock.
	msk, _ := time.LoadLocation("Europe/Moscow")
	start := nextMonday(time.Now().In(msk))
	scale := o.scale
	if o.days == 0 {
		scale, start = 1, time.Now()
	}
	clk := clock.NewScaled(start, scale)
	after := func(d time.Duration, f func()) { time.AfterFunc(time.Duration(float64(d)/scale), f) }
	fakes, err := startDemoFakes(clk.Now, after)
	if err != nil {
		return err
	}
	defer fakes.Close()
	overlay := fakes.env(base)
	for k, v := range map[string]string{
		"NUDGE_BASE_URL": base, "NUDGE_HTTP_ADDR": addr,
		"NUDGE_CLOCK_SCALE": fmt.Sprint(scale), "NUDGE_CLOCK_START": start.Format(time.RFC3339),
		"NUDGE_WORKER_POLL": "100ms", "NUDGE_SCHEDULER_INTERVAL": "100ms", "NUDGE_SCHEDULER_MAX_LATENESS": "12h",
	} {
		overlay[k] = v
	}
	look := a.Env.Lookup
	if look == nil {
		look = os.LookupEnv
	}
	a.Env = &config.Env{Lookup: func(k string) (string, bool) {
		if v, ok := overlay[k]; ok {
			if cur, set := look(k); set && cur != "" && !strings.HasPrefix(k, "NUDGE_CLOCK") && k != "NUDGE_HTTP_ADDR" {
				return cur, true // the operator's own settings win
			}
			return v, true
		}
		return look(k)
	}}
	c, err := a.loadStackConfig()
	if err != nil {
		return err
	}
	c.st.ClockScale, c.st.ClockStart = scale, start
	c.clock = clk
	env := &demoEnv{now: clk.Now, loopback: isLoopback(addr)}
	if c.consent, env.signer, err = a.demoConsentConfig(c.consent); err != nil {
		return err
	}
	env.consent = c.consent
	d, err := a.OpenDB(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := migrations.Up(ctx, d.DB); err != nil {
		return err
	}
	s, err := a.buildStack(c, d, http.DefaultClient)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	srv := s.server()
	ready := make(chan string, 1)
	g.Go(func() error { return srv.Serve(gctx, addr, ready) })
	select {
	case <-ready:
	case <-gctx.Done():
		return g.Wait()
	}
	g.Go(func() error { return s.loops(gctx) })
	g.Go(func() error { return s.rt.work(gctx) })
	sched := scheduler.New(d, clk.Now, a.Log, c.sched)
	if err := sched.Start(gctx); err != nil {
		return err
	}
	defer sched.Stop()
	fakes.tg.SetWebhook(channels.WebhookURL(base, channels.Telegram, channels.DefaultAccount), overlay["NUDGE_TELEGRAM_WEBHOOK_SECRET"])
	fakes.vb.SetWebhook(channels.WebhookURL(base, channels.Viber, channels.DefaultAccount))

	logins, err := a.demoLogins(ctx, d)
	if err != nil {
		return err
	}
	if _, key, err := s.keys.Create(ctx, fmt.Sprintf("demo-%d", time.Now().Unix())); err == nil {
		env.apiKey = key
	}
	if _, err := consent.EnsureSubscriber(ctx, d, demoCustomer); err != nil {
		return err
	}
	if err := a.printDemoLinks(env, base); err != nil {
		return err
	}
	if o.days > 0 {
		if err := a.demoWeek(gctx, d, fakes, o, clk.Now, after, base, env.apiKey); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.Stdout, "\nDashboard:  %s/dashboard\nInbox:      %s/inbox\nQueues:     %s/admin/queues/\n", base, base, base)
	for _, l := range logins {
		fmt.Fprintf(a.Stdout, "Login (%s): %s  password: %s\n", l[0], l[1], l[2])
	}
	if o.exit {
		cancel()
		return ignoreCanceled(g.Wait())
	}
	fmt.Fprintln(a.Stdout, "\nServing until Ctrl-C.")
	return ignoreCanceled(g.Wait())
}

// demoWeek seeds the shop and runs the days, printing a line per day.
func (a *App) demoWeek(ctx context.Context, d *sqlx.DB, f *demoFakes, o demoOptions, now func() time.Time, after func(time.Duration, func()), base, apiKey string) error {
	w := a.Stdout
	fmt.Fprintf(w, "\nThe GrowFood week: %d customers, %s to %s flow time, %gx real time.\n",
		o.customers, now().Format("Mon 02 Jan 15:04 MST"), now().Add(time.Duration(o.days)*24*time.Hour).Format("Mon 02 Jan"), o.scale)
	people := demoPeople(o.customers)
	if err := a.seedDemo(ctx, d, f, people, now); err != nil {
		return err
	}
	if err := triggerReceipts(ctx, base, apiKey, people, now()); err != nil {
		return err
	}
	sim := &demoCustomers{a: a, f: f, subs: subscribers.NewStore(d, now), now: now, after: after,
		byChat: map[int64]demoPerson{}, byUser: map[string]demoPerson{}, byMail: map[string]demoPerson{}, rnd: mrand.New(mrand.NewPCG(1, 2))}
	for _, p := range people {
		sim.byChat[p.chat], sim.byUser[p.viberID], sim.byMail[p.email] = p, p, p
	}
	end := now().Add(time.Duration(o.days) * 24 * time.Hour)
	day := now().Truncate(24 * time.Hour)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		sim.tick(ctx)
		if t := now(); t.Sub(day) >= 24*time.Hour {
			day = t.Truncate(24 * time.Hour)
			var sent, replies, handed int
			_ = d.GetContext(ctx, &sent, `SELECT count(*) FROM messages WHERE sent_at IS NOT NULL`)
			_ = d.GetContext(ctx, &replies, `SELECT count(*) FROM replies`)
			_ = d.GetContext(ctx, &handed, `SELECT count(*) FROM conversations`)
			fmt.Fprintf(w, "  %s  messages sent %4d · replies %3d · conversations with managers %2d\n", t.Format("Mon 02 Jan 15:04"), sent, replies, handed)
		}
	}
	sim.mu.Lock()
	for _, err := range sim.errs {
		a.Log.Warn("demo customer action failed", "err", err)
	}
	sim.mu.Unlock()
	fmt.Fprintln(w, "\nFunnel per campaign (all versions):")
	return printFunnels(ctx, w, d)
}

// demoLogins makes (or resets) the demo's manager and admin accounts.
func (a *App) demoLogins(ctx context.Context, d *sqlx.DB) ([][3]string, error) {
	st := users.NewStore(d, nil)
	var out [][3]string
	for _, u := range []struct {
		email string
		role  users.Role
	}{{"manager@growfood.example", users.Manager}, {"admin@growfood.example", users.Admin}} {
		pw := users.RandomPassword()
		if _, err := st.Add(ctx, u.email, u.role, pw); errors.Is(err, users.ErrExists) {
			err = st.SetPassword(ctx, u.email, pw)
			if err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		out = append(out, [3]string{string(u.role), u.email, pw})
	}
	return out, nil
}

// nextMonday returns the next Monday 08:00 in t's zone.
func nextMonday(t time.Time) time.Time {
	days := (8 - int(t.Weekday())) % 7
	if days == 0 {
		days = 7
	}
	y, m, dd := t.AddDate(0, 0, days).Date()
	return time.Date(y, m, dd, 8, 0, 0, 0, t.Location())
}

// freeAddr resolves a ":0" port to a free one, so links can name it before
// the server starts.
func freeAddr(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (a *App) demoConsentConfig(c consent.Config) (consent.Config, *jwtlink.Key, error) {
	var signer *jwtlink.Key
	if c.JWTKeys.Len() == 0 {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		k, err := jwtlink.NewHS256Key("demo-dev", secret)
		if err != nil {
			return c, nil, err
		}
		if c.JWTKeys, err = jwtlink.NewKeys(k); err != nil {
			return c, nil, err
		}
		if c.JWTIssuer == "" {
			c.JWTIssuer = "nudge-demo"
		}
		signer = &k
		fmt.Fprintln(a.Stdout, "NUDGE_JWT_KEYS is not set: using a development HS256 key (kid demo-dev) made for this demo run only.")
	}
	if len(c.Enabled()) == 0 {
		c.TelegramBot, c.ViberURI, c.WhatsAppNumber = demoTargets.TelegramBot, demoTargets.ViberURI, demoTargets.WhatsAppNumber
		c.MessengerPage, c.VKGroup = demoTargets.MessengerPage, demoTargets.VKGroup
		fmt.Fprintln(a.Stdout, "No channel is configured (NUDGE_TELEGRAM_BOT, …): the buttons point at demo bots that do not exist.")
	}
	return c, signer, nil
}

func (a *App) printDemoLinks(env *demoEnv, base string) error {
	w := a.Stdout
	q := url.Values{"utm_source": {"demo"}, "utm_medium": {"console"}, "utm_campaign": {"growfood-week"}}
	fmt.Fprintf(w, "\nSite widget (page):   %s/widget?%s\n", base, q.Encode())
	fmt.Fprintf(w, "Site widget (embed):  <script src=\"%s/widget.js\" data-topics=\"service,marketing\" async></script>\n", base)
	if env.signer == nil {
		fmt.Fprintln(w, "\nNUDGE_JWT_KEYS is set: sign deep links with your shop's key (claims: sub, topics, exp, aud, iss, jti); see docs/consent.md.")
		return nil
	}
	sign := func(n int) (string, error) {
		now := env.now()
		c := &jwtlink.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Subject: demoCustomer.ExternalID, Issuer: env.consent.JWTIssuer, Audience: jwt.ClaimStrings{env.consent.JWTAudience},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)),
				ID: fmt.Sprintf("demo-%d-%d", now.UnixNano(), n),
			},
			Topics: []string{"service", "marketing"}, Name: demoCustomer.Name, Locale: demoCustomer.Locale, TZ: demoCustomer.TimeZone,
		}
		return env.signer.Sign(c)
	}
	tok, err := sign(0)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSigned deep link for customer %s (single use, valid 24h):\n  %s/s/%s\n", demoCustomer.ExternalID, base, tok)
	fmt.Fprintln(w, "Straight to a channel (each its own single-use token):")
	for i, ch := range env.consent.Enabled() {
		tok, err := sign(i + 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-9s %s/s/%s?channel=%s\n", ch, base, tok, ch)
	}
	if env.apiKey != "" {
		fmt.Fprintf(w, "\nAPI key for this demo: %s\nConsent ledger of the demo customer:\n  curl -H 'Authorization: Bearer %s' %s/v1/consent/%s\n",
			env.apiKey, env.apiKey, base, demoCustomer.ExternalID)
	}
	return nil
}

// isLoopback reports whether a listen address binds loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
