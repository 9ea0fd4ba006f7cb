// Package demo runs the GrowFood week of examples/growfood against the
// provider fakes: `make demo`, through cmd/nudge-demo. It is its own package
// (and binary) so that `nudge` links no fake: the engine runs as
// `nudge run --migrate` in-process, configured only through the environment
// the demo composes (the fakes' variables, a shared scaled clock, a
// development JWT key), and the simulated customers talk to it through the
// fakes' webhooks as real ones would.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// Engine runs every role of nudge (`nudge run --migrate`) with the
// configuration lookup gives, writing its output to logs, until ctx ends.
// cmd/nudge-demo passes internal/cli's; this package does not import it, so
// the cli's own tests can use the demo's fakes and customers.
type Engine func(ctx context.Context, lookup func(string) (string, bool), logs io.Writer) error

// demoCustomer is the customer the demo seeds and signs links for.
var demoCustomer = consent.Customer{ExternalID: "growfood-demo-1", Name: "Анна", Locale: "ru", TimeZone: "Europe/Moscow"}

// demoTargets are deep-link targets used when no channel is configured, so
// the widget shows every button. They point at no real bot.
var demoTargets = map[string]string{
	"NUDGE_TELEGRAM_BOT": "GrowFoodDemoBot", "NUDGE_VIBER_URI": "growfooddemo", "NUDGE_WHATSAPP_NUMBER": "79990000000",
	"NUDGE_MESSENGER_PAGE": "growfood.demo", "NUDGE_VK_GROUP": "growfood_demo",
}

// demoEnv is what the printed links are made from.
type demoEnv struct {
	consent  consent.Config
	signer   *jwtlink.Key // nil when the configured keys are the shop's own
	loopback bool         // listening on a loopback address only
	apiKey   string
	now      func() time.Time
}

// Options are the flags of the demo.
type Options struct {
	Addr      string
	Port      int
	Days      int
	Scale     float64
	Customers int
	Exit      bool
	LogFile   string // "" = nudge-demo-<port>.log in the temporary directory
	Fresh     bool   // make a fresh database and empty a Redis DB for this run
	Database  string // with Fresh: the database name ("" = nudge_demo_<port>)
	RedisDB   int    // with Fresh: the Redis DB (-1 = 1 + port mod 15)
	FakesAddr string // the fakes' control API and customer chat pages
}

// demo is one run: where its output goes and what it reads.
type demo struct {
	stdout io.Writer
	log    *slog.Logger
	env    *config.Env
	engine Engine
}

// Main runs the demo command line and returns the exit code.
func Main(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer, engine Engine) int {
	cmd := Command(env, stdout, stderr, engine)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "nudge-demo:", err)
		return 1
	}
	return 0
}

// Command is the nudge-demo command.
func Command(env *config.Env, stdout, stderr io.Writer, engine Engine) *cobra.Command {
	var o Options
	cmd := &cobra.Command{
		Use:   "nudge-demo",
		Short: "Run the GrowFood week on the bundled example against fake Telegram, Viber, SMS and email providers",
		Long: `nudge-demo runs the whole engine on examples/growfood: it starts the
wire-protocol fakes of every provider on loopback (package channels/fakes),
runs "nudge run --migrate" in-process pointed at them, applies the campaigns,
brings in customers through their messenger deep links, posts last week's
deliveries, and runs a week of flow time on a fast clock (--scale) while
simulated customers answer: most like the food, some do not (handed to the
care queue), some stay silent, some renew after the Friday reminder; blocked
chats fall back to SMS and unreachable phones to email. It then prints the
funnel per campaign, the dashboard URL, the logins and the customer chat
pages (each simulated customer's messenger: press a button or reply as
them, --fakes-addr), and serves until
Ctrl-C, its clock now at real speed so the figures hold still (every page
names the clock). The engine's log goes to a file (--log), not between the
figures. With --days 0 it only serves and prints the opt-in links.

make demo adds --fresh: a new database and Redis DB named after the port.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &demo{stdout: stdout, env: env, engine: engine}
			return d.run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "", "listen address (default $NUDGE_HTTP_ADDR, or a free port when that one is taken)")
	cmd.Flags().IntVar(&o.Port, "port", 0, "listen port (default: that of $NUDGE_HTTP_ADDR, or a free one when it is taken)")
	cmd.Flags().StringVar(&o.LogFile, "log", "", "file for the engine's log (default nudge-demo-<port>.log in the temporary directory)")
	cmd.Flags().BoolVar(&o.Fresh, "fresh", false, "start from a fresh database nudge_demo_<port> beside $NUDGE_DATABASE_URL's and an emptied Redis DB (1 + port mod 15, or the next one no test run or demo holds); both are removed at the end")
	cmd.Flags().StringVar(&o.Database, "database", "", "with --fresh: the database name (default nudge_demo_<port>)")
	cmd.Flags().IntVar(&o.RedisDB, "redis-db", -1, "with --fresh: the Redis database, 1–15 (default: 1 + port mod 15, or the next free one)")
	cmd.Flags().StringVar(&o.FakesAddr, "fakes-addr", "127.0.0.1:0", "listen address of the fakes' control API and customer chat pages (loopback: they play any customer, unauthenticated)")
	cmd.Flags().IntVar(&o.Days, "days", 7, "days of flow time to run (0: only serve and print links)")
	cmd.Flags().Float64Var(&o.Scale, "scale", 6000, "how many times faster than real time the week runs")
	cmd.Flags().IntVar(&o.Customers, "customers", 40, "simulated customers")
	cmd.Flags().BoolVar(&o.Exit, "exit", false, "exit after printing the funnel instead of serving")
	return cmd
}

func (a *demo) run(ctx context.Context, o Options) error {
	if o.Scale <= 0 || o.Customers < 1 || o.Days < 0 {
		return fmt.Errorf("--scale must be positive, --customers at least 1 and --days not negative")
	}
	core := config.LoadCore(a.env)
	if err := a.env.Err(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	if !o.Fresh && (o.Database != "" || o.RedisDB >= 0) {
		return fmt.Errorf("--database and --redis-db name what --fresh makes: add --fresh")
	}
	ln, note, err := listen(o, core.HTTPAddr)
	if err != nil {
		return err
	}
	// Serve closes ln once it has it; until then (an error below) this does.
	defer ln.Close()
	addr := ln.Addr().String()
	var st *store
	if o.Fresh {
		if st, err = defaultStore(o, addr); err != nil {
			return err
		}
	}
	if note != "" {
		fmt.Fprintln(a.stdout, note)
	}
	logPath := o.LogFile
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), fmt.Sprintf("nudge-demo-%d.log", port(addr)))
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	a.log = slog.New(slog.NewTextHandler(logFile, nil))
	fmt.Fprintf(a.stdout, "Engine log: %s\n", logPath)
	var storeURLs map[string]string
	if o.Fresh {
		dbURL, redisURL, err := st.prepare(ctx, core.DatabaseURL, core.RedisURL)
		if err != nil {
			return err
		}
		storeURLs = map[string]string{"NUDGE_DATABASE_URL": dbURL, "NUDGE_REDIS_URL": redisURL}
		fmt.Fprintf(a.stdout, "Fresh database %s and Redis DB %d (%s, %s), removed when the demo ends.\n",
			st.Database, st.RedisDB, hidePassword(dbURL), hidePassword(redisURL))
		defer func() {
			// ctx has ended by now; the clean-up gets its own short one.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := st.drop(dctx, core.DatabaseURL, core.RedisURL); err != nil {
				fmt.Fprintln(a.stdout, "nudge-demo:", err)
			}
		}()
	}
	base := core.BaseURL
	if a.env.String("NUDGE_BASE_URL", "") == "" {
		base = "http://" + addr
	}
	// The week starts next Monday 08:00 Moscow time, on a fast clock that
	// the engine shares through NUDGE_CLOCK_ORIGIN.
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		return fmt.Errorf("time zone data: %w", err)
	}
	// After the week the clock runs at real speed, so the figures stop
	// changing while someone reads them.
	start := nextMonday(time.Now().In(msk))
	ccfg := clock.Config{Scale: o.Scale, Start: start, Until: start.Add(time.Duration(o.Days) * 24 * time.Hour)}.Fixed()
	if o.Days == 0 {
		ccfg = clock.Config{Scale: 1}
	}
	clk := ccfg.Clock()
	f, err := fakes.Start(fakes.Options{Now: clk.Now, After: ccfg.After, BaseURL: base})
	if err != nil {
		return err
	}
	defer f.Close()
	// The customer chat pages: the fakes' control API on its own listener.
	fln, err := net.Listen("tcp", o.FakesAddr)
	if err != nil {
		return fmt.Errorf("--fakes-addr: %w", err)
	}
	chatURL := "http://" + fln.Addr().String() + "/chat"
	fakesSrv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = fakesSrv.Serve(fln) }()
	defer fakesSrv.Close()
	fmt.Fprintf(a.stdout, "Customer chats: %s (press a button or reply as a simulated customer)\n", chatURL)
	overlay := Env(f, base)
	for k, v := range ccfg.Env() {
		overlay[k] = v
	}
	for k, v := range storeURLs {
		overlay[k] = v
	}
	for k, v := range map[string]string{
		"NUDGE_BASE_URL": base, "NUDGE_HTTP_ADDR": addr,
		"NUDGE_WORKER_POLL": "100ms", "NUDGE_SCHEDULER_INTERVAL": "100ms", "NUDGE_SCHEDULER_MAX_LATENESS": "12h",
	} {
		overlay[k] = v
	}
	look := a.env.Lookup
	if look == nil {
		look = os.LookupEnv
	}
	env := &demoEnv{now: clk.Now, loopback: isLoopback(addr)}
	if env.signer, err = a.demoKeys(look, overlay); err != nil {
		return err
	}
	lookup := func(k string) (string, bool) {
		if v, ok := overlay[k]; ok {
			if cur, set := look(k); set && cur != "" && !strings.HasPrefix(k, "NUDGE_CLOCK") && k != "NUDGE_HTTP_ADDR" && storeURLs[k] == "" {
				return cur, true // the operator's own settings win
			}
			return v, true
		}
		return look(k)
	}
	cenv := &config.Env{Lookup: lookup}
	env.consent = consent.LoadConfig(cenv)
	if err := cenv.Err(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := a.engine(server.WithListener(gctx, ln), lookup, logFile); err != nil {
			return fmt.Errorf("%w (see %s)", err, logPath)
		}
		return nil
	})
	if err := waitReady(gctx, "http://"+addr+"/readyz"); err != nil {
		cancel()
		if werr := g.Wait(); werr != nil && !errors.Is(werr, context.Canceled) {
			return werr
		}
		return err
	}
	d, err := db.Open(ctx, config.LoadCore(cenv).DatabaseURL)
	if err != nil {
		return err
	}
	defer d.Close()
	f.Telegram.SetWebhook(channels.WebhookURL(base, channels.Telegram, ""), overlay["NUDGE_TELEGRAM_WEBHOOK_SECRET"])
	f.Viber.SetWebhook(channels.WebhookURL(base, channels.Viber, ""))

	logins, err := demoLogins(ctx, d)
	if err != nil {
		return err
	}
	if _, key, err := apikeys.NewStore(d, nil).Create(ctx, fmt.Sprintf("demo-%d", time.Now().Unix()), users.Admin); err == nil {
		env.apiKey = key
	}
	if _, err := consent.EnsureSubscriber(ctx, d, demoCustomer); err != nil {
		return err
	}
	if err := a.printDemoLinks(env, base); err != nil {
		return err
	}
	if o.Days > 0 {
		if err := a.demoWeek(gctx, d, f, o, clk.Now, ccfg.After, ccfg.Until, base, env.apiKey); err != nil {
			return err
		}
	}
	if o.Days > 0 {
		fmt.Fprintf(a.stdout, "\nThe simulation is over: from %s the engine clock runs at real speed (no longer %gx),\nso these figures change only when someone acts, e.g. a manager answering in the inbox. Every page says so.\n",
			ccfg.Until.Format("Mon 02 Jan 15:04 MST"), o.Scale)
	}
	fmt.Fprintf(a.stdout, "\nDashboard:  %s/dashboard\nInbox:      %s/inbox\nQueues:     %s/admin/queues/\nCustomers:  %s (each customer's chat: press 👎 and watch the inbox)\n", base, base, base, chatURL)
	for _, l := range logins {
		fmt.Fprintf(a.stdout, "Login (%s): %s  password: %s\n", l[0], l[1], l[2])
	}
	if o.Exit {
		cancel()
		return ignoreCanceled(g.Wait())
	}
	fmt.Fprintln(a.stdout, "\nServing until Ctrl-C.")
	return ignoreCanceled(g.Wait())
}

// Env is the configuration that points nudge at the fakes, as the GrowFood
// shop: its sender names and the email tracking secret.
func Env(f *fakes.Set, base string) map[string]string {
	env := f.Env()
	for k, v := range map[string]string{
		"NUDGE_VIBER_SENDER_NAME": "GrowFood", "NUDGE_SMTP_FROM": "GrowFood <hello@growfood.example>",
		"NUDGE_EMAIL_TRACKING_SECRET": "demo-tracking-secret", "NUDGE_EMAIL_TRACKING_URL": base,
	} {
		env[k] = v
	}
	if base == "" {
		delete(env, "NUDGE_EMAIL_TRACKING_URL")
	}
	return env
}

// waitReady polls url until it answers 200 or ctx ends.
func waitReady(ctx context.Context, url string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the engine did not become ready at %s: %w", url, ctx.Err())
		case <-t.C:
		}
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// demoWeek seeds the shop and runs the days until end (flow time, when the
// clock slows to real speed), printing a line per day.
func (a *demo) demoWeek(ctx context.Context, d *sqlx.DB, f *fakes.Set, o Options, now func() time.Time, after func(time.Duration, func()), end time.Time, base, apiKey string) error {
	w := a.stdout
	fmt.Fprintf(w, "\nThe GrowFood week: %d customers, %s to %s flow time, %gx real time.\n",
		o.Customers, now().Format("Mon 02 Jan 15:04 MST"), end.Format("Mon 02 Jan 15:04"), o.Scale)
	people := People(o.Customers)
	if err := Seed(ctx, d, f, people, now, a.stdout); err != nil {
		return err
	}
	if err := triggerReceipts(ctx, base, apiKey, people, now()); err != nil {
		return err
	}
	sim := &demoCustomers{f: f, subs: subscribers.NewStore(d, now), now: now, after: after,
		byChat: map[int64]Person{}, byUser: map[string]Person{}, byMail: map[string]Person{}, rnd: mrand.New(mrand.NewPCG(1, 2))}
	for _, p := range people {
		sim.byChat[p.Chat], sim.byUser[p.ViberID], sim.byMail[p.Email] = p, p, p
	}
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
		a.log.Warn("demo customer action failed", "err", err)
	}
	sim.mu.Unlock()
	fmt.Fprintln(w, "\nFunnel per campaign (all versions):")
	return printFunnels(ctx, w, d)
}

// demoLogins makes (or resets) the demo's accounts, one per role.
func demoLogins(ctx context.Context, d *sqlx.DB) ([][3]string, error) {
	st := users.NewStore(d, nil)
	var out [][3]string
	for _, u := range []struct {
		email string
		role  users.Role
	}{{"manager@growfood.example", users.Manager}, {"marketer@growfood.example", users.Marketer},
		{"viewer@growfood.example", users.Viewer}, {"admin@growfood.example", users.Admin}} {
		pw := users.RandomPassword()
		if _, err := st.Add(ctx, u.email, u.role, pw, nil); errors.Is(err, users.ErrExists) {
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

// demoKeys makes a development JWT key when the operator configured none
// (NUDGE_JWT_KEYS), and points the deep links at demo bots when no channel
// target is configured, writing both into overlay.
func (a *demo) demoKeys(look func(string) (string, bool), overlay map[string]string) (*jwtlink.Key, error) {
	var signer *jwtlink.Key
	// config.Env also reads NUDGE_JWT_KEYS_FILE.
	if (&config.Env{Lookup: look}).String("NUDGE_JWT_KEYS", "") == "" {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		k, err := jwtlink.NewHS256Key("demo-dev", secret)
		if err != nil {
			return nil, err
		}
		signer = &k
		overlay["NUDGE_JWT_KEYS"] = "demo-dev:HS256:base64:" + base64.StdEncoding.EncodeToString(secret)
		overlay["NUDGE_JWT_ISSUER"] = "nudge-demo"
		fmt.Fprintln(a.stdout, "NUDGE_JWT_KEYS is not set: using a development HS256 key (kid demo-dev) made for this demo run only.")
	}
	configured := false
	for k := range demoTargets {
		if v, _ := look(k); v != "" {
			configured = true
		}
	}
	if !configured {
		for k, v := range demoTargets {
			overlay[k] = v
		}
		fmt.Fprintln(a.stdout, "No channel is configured (NUDGE_TELEGRAM_BOT, …): the buttons point at demo bots that do not exist.")
	}
	return signer, nil
}

func (a *demo) printDemoLinks(env *demoEnv, base string) error {
	w := a.stdout
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
