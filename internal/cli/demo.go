package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
)

// demoCustomer is the customer the demo seeds and signs links for.
var demoCustomer = consent.Customer{ExternalID: "growfood-demo-1", Name: "Анна", Locale: "ru", TimeZone: "Europe/Moscow"}

// demoTargets are deep-link targets used when no channel is configured, so
// the widget shows every button. They point at no real bot.
var demoTargets = consent.Config{
	TelegramBot: "GrowFoodDemoBot", ViberURI: "growfooddemo", WhatsAppNumber: "79990000000",
	MessengerPage: "growfood.demo", VKGroup: "growfood_demo",
}

// demoEnv is everything the demo's components are built from; later parts of
// the demo (campaigns, worker, fake channels) add their fields here.
type demoEnv struct {
	core     config.Core
	db       *sqlx.DB
	redis    *redis.Client
	consent  consent.Config
	signer   *jwtlink.Key // nil when the configured keys are the shop's own
	loopback bool         // listening on a loopback address only
	now      func() time.Time
}

func (a *App) demoCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Nudge locally with a demo customer and print opt-in links to try",
		Long: `demo migrates the database, seeds a demo customer, starts the HTTP server and
prints the site-widget URL and signed JWT deep links (one per channel) to try in
a browser. Without NUDGE_JWT_KEYS it makes a development HS256 key for this run
only. Without channel settings it uses demo deep-link targets. Stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default $NUDGE_HTTP_ADDR)")
	return cmd
}

func (a *App) runDemo(ctx context.Context, addr string) error {
	ccfg := consent.LoadConfig(a.Env)
	core, err := a.Core()
	if err != nil {
		return err
	}
	if addr == "" {
		addr = core.HTTPAddr
	}
	d, err := a.OpenDB(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := migrations.Up(ctx, d.DB); err != nil {
		return err
	}
	ropt, err := redis.ParseURL(core.RedisURL)
	if err != nil {
		return fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()

	env := &demoEnv{core: core, db: d, redis: rdb, now: time.Now}
	env.consent, env.signer, err = a.demoConsentConfig(ccfg)
	if err != nil {
		return err
	}
	if _, err := consent.EnsureSubscriber(ctx, d, demoCustomer); err != nil {
		return err
	}
	env.loopback = isLoopback(addr)
	srv := a.demoServer(env)
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, addr, ready) }()
	var bound string
	select {
	case err := <-errc:
		return err
	case bound = <-ready:
	}
	base := core.BaseURL
	if a.Env.String("NUDGE_BASE_URL", "") == "" {
		base = "http://" + bound
	}
	if err := a.printDemoLinks(env, base); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, "\nServing until Ctrl-C.")
	return <-errc
}

// demoConsentConfig fills what the demo needs and the operator did not set:
// a development signing key and demo deep-link targets.
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

// demoServer wires the HTTP side of the demo. Extend it as components land.
func (a *App) demoServer(env *demoEnv) *server.Server {
	checks := map[string]server.Check{
		"postgres": func(ctx context.Context) error { return env.db.PingContext(ctx) },
		"redis":    func(ctx context.Context) error { return env.redis.Ping(ctx).Err() },
	}
	cr := consent.NewRoutes(consent.RoutesConfig{DB: env.db, Config: env.consent, Log: a.Log, Now: env.now})
	// The consent API has no API keys in the demo: serve it only on loopback.
	var routes server.Routes = cr.Public()
	if env.loopback {
		routes = cr
	}
	return server.New(a.Log, checks, routes)
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
	if env.loopback {
		fmt.Fprintf(w, "\nConsent ledger of the demo customer: %s/v1/consent/%s\n", base, demoCustomer.ExternalID)
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
