package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/campaigns/preview"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/uploads"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/templates"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/web"
	"github.com/nudge-engine/nudge/worker"
)

// stack is one process's engine: every component the roles share, built once
// from configuration. serve, worker, run and demo start the parts they need.
// The worker engine is always built: webhooks apply statuses and resume runs
// through it even in a serve-only process.
type stack struct {
	a      *App
	core   config.Core
	st     worker.Settings
	clock  clock.Clock
	ccfg   consent.Config
	db     *sqlx.DB
	rt     *runtime
	chans  *channelSet
	sink   *inbound.Sink
	binder *consent.Binder
	router *inbox.Router
	inbox  *inbox.Service
	ui     *web.Web
	keys   *apikeys.Store
	casts  *scheduler.Broadcasts
	links  *links.Service
	pay    *payments.Service // invoices of pay buttons, Telegram's pre-checkouts and payments
	hooks  *hooks.Store      // outgoing webhooks' endpoints and log
	// retention purges old raw webhook payloads and message bodies.
	retention *retention
}

// stackConfig is what a role reads from the environment.
type stackConfig struct {
	core    config.Core
	st      worker.Settings
	consent consent.Config
	tpl     templates.Config
	sched   scheduler.Config
	lexicon string // extra sentiment lexicon file
	sla     time.Duration
	canned  *inbox.Canned // NUDGE_INBOX_CANNED
	// mediaMax caps a customer's file kept in the inbox (NUDGE_INBOX_MEDIA_MAX_BYTES).
	mediaMax int64
	// retentionRaw and retentionBodies are how long raw webhook payloads and
	// message bodies are kept (NUDGE_RETENTION_RAW, NUDGE_RETENTION_BODIES).
	retentionRaw, retentionBodies time.Duration
	// linkSecret signs tracked links (NUDGE_LINK_SECRET; empty: the
	// install's generated secret).
	linkSecret string
	// clock is the one flow clock every component of the process shares
	// (NUDGE_CLOCK_SCALE, NUDGE_CLOCK_START, NUDGE_CLOCK_ORIGIN).
	clock clock.Clock
}

// loadStackConfig reads every variable and reports all problems at once.
func (a *App) loadStackConfig() (stackConfig, error) {
	c := stackConfig{
		consent: consent.LoadConfig(a.Env),
		st:      worker.LoadSettings(a.Env),
		tpl:     templates.LoadConfig(a.Env),
		sched:   scheduler.LoadConfig(a.Env),
		lexicon: a.Env.String("NUDGE_LEXICON_FILE", ""),
		sla:     a.Env.Duration("NUDGE_INBOX_SLA", 15*time.Minute),
		clock:   clock.LoadConfig(a.Env).Clock(),
	}
	c.mediaMax = int64(a.Env.Int("NUDGE_INBOX_MEDIA_MAX_BYTES", inbox.DefaultMediaMax))
	if c.mediaMax <= 0 {
		a.Env.Fail("NUDGE_INBOX_MEDIA_MAX_BYTES", "must be a positive number of bytes")
	}
	canned, cerr := inbox.LoadCanned(a.Env.String("NUDGE_INBOX_CANNED", ""))
	if cerr != nil {
		a.Env.Fail("NUDGE_INBOX_CANNED", "%v", cerr)
	}
	c.canned = canned
	c.linkSecret = a.Env.String("NUDGE_LINK_SECRET", "")
	if c.linkSecret != "" && len(c.linkSecret) < 16 {
		a.Env.Fail("NUDGE_LINK_SECRET", "must be at least 16 characters (or unset: a secret is generated once and kept in Postgres)")
	}
	c.retentionRaw = a.Env.Duration("NUDGE_RETENTION_RAW", defaultRetentionRaw)
	c.retentionBodies = a.Env.Duration("NUDGE_RETENTION_BODIES", defaultRetentionBodies)
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"NUDGE_RETENTION_RAW", c.retentionRaw}, {"NUDGE_RETENTION_BODIES", c.retentionBodies}} {
		if v.d < 0 {
			a.Env.Fail(v.name, "must not be negative (0 keeps the data until erasure)")
		}
	}
	core, err := a.Core() // also reports the problems recorded above
	c.core = core
	return c, err
}

// buildStack wires the components. hc is the HTTP client of channel adapters.
func (a *App) buildStack(c stackConfig, d *sqlx.DB, hc *http.Client) (*stack, error) {
	if c.clock == nil {
		return nil, fmt.Errorf("buildStack: no clock")
	}
	// API keys and sign-in sessions keep the wall clock on purpose: they are
	// security, not flow; under the demo's scaled clock a session would
	// otherwise expire within seconds.
	s := &stack{a: a, core: c.core, st: c.st, clock: c.clock, ccfg: c.consent, db: d, keys: apikeys.NewStore(d, nil)}
	s.retention = newRetention(d, a.Log, c.clock, c.retentionRaw, c.retentionBodies)
	clk := c.clock
	// Wiring in two steps: the adapters need the sink now, its routes
	// (consent, the engine's statuses, the inbox router) exist only once the
	// engine is built from the adapters' senders; Connect below.
	s.sink = inbound.New(d, a.Log, clk.Now)
	s.pay = payments.New(payments.Config{DB: d, Log: a.Log, Now: clk.Now})
	s.chans = loadChannels(a.Env, c.core.BaseURL, s.sink, s.pay, a.Log, hc)
	s.chans.useUploads(uploads.New(d, clk.Now))
	if err := a.Env.Err(); err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	rates := map[string]ratelimit.Rate{}
	for k, r := range s.chans.Rates {
		rates[k] = ratelimit.Rate{PerSecond: r.PerSecond, PerChatPerSecond: r.PerChatPerSecond, ChatBurst: r.ChatBurst}
	}
	s.links = links.New(links.Config{DB: d, BaseURL: c.core.BaseURL, Secret: []byte(c.linkSecret), Log: a.Log, Now: clk.Now})
	senders := s.chans.Registry.Senders()
	rt, err := a.buildRuntime(c.core, c.st, d, runtimeExtras{clock: clk,
		senders: senders, rates: rates, renderer: templates.NewRenderer(c.tpl.Options()...),
		inbound: s.sink.Deliver, links: s.links, pay: s.pay,
	})
	if err != nil {
		return nil, err
	}
	s.rt = rt
	lex, err := classify.LexiconFile(c.lexicon)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_LEXICON_FILE: %w", err)
	}
	s.binder = consent.NewBinder(d, a.Log, clk.Now)
	s.router = inbox.NewRouter(d, classify.New(lex), rt.engine, a.Log, clk.Now)
	s.router.Media, s.router.MediaMax = s.chans, c.mediaMax
	s.inbox = inbox.NewService(d, rt.engine, rt.engine, a.Log, clk.Now)
	s.inbox.SLA = c.sla
	s.sink.Connect(inbound.Routes{Consent: s.binder, Statuses: rt.engine.Statuses, Replies: s.router})
	ui, err := web.New(users.NewStore(d, nil), a.Log, strings.HasPrefix(c.core.BaseURL, "https://"))
	if err != nil {
		return nil, err
	}
	ui.UseClock(clk)
	if err := ui.EnableInbox(s.inbox, c.canned); err != nil {
		return nil, err
	}
	if err := ui.EnableDashboard(analytics.New(d)); err != nil {
		return nil, err
	}
	ui.AddNav(web.NavItem{Href: "/admin/queues/", Label: "Queues", About: "Asynq queues, tasks and retries", Action: users.Settings})
	if err := ui.EnableSettings(s.settings); err != nil {
		return nil, err
	}
	if err := ui.EnablePrivacy(subscriberStore(d, clk.Now)); err != nil {
		return nil, err
	}
	if err := ui.EnableAudit(d); err != nil {
		return nil, err
	}
	s.casts = scheduler.NewBroadcasts(d, clk.Now, a.Log, c.sched.DefaultTimeZone)
	if err := ui.EnableBroadcasts(s.casts); err != nil {
		return nil, err
	}
	if err := ui.EnableSegments(d); err != nil {
		return nil, err
	}
	s.hooks = hooks.NewStore(d, clk.Now)
	if err := ui.EnableWebhooks(s.hooks); err != nil {
		return nil, err
	}
	s.ui = ui
	return s, nil
}

// settings is what the admins' settings page shows.
func (s *stack) settings(ctx context.Context) (web.Settings, error) {
	var out web.Settings
	for _, k := range channels.Kinds {
		if k == channels.Sandbox {
			continue
		}
		accs := s.chans.Registry.Accounts(k)
		if len(accs) == 0 {
			out.Channels = append(out.Channels, web.ChannelSetting{Kind: string(k), Account: channels.DefaultAccount})
		}
		for _, acc := range accs {
			out.Channels = append(out.Channels, web.ChannelSetting{Kind: string(k), Account: acc, Configured: true,
				Webhook: channels.WebhookURL(s.core.BaseURL, k, acc)})
		}
	}
	if err := s.paymentSettings(ctx, out.Channels); err != nil {
		return out, err
	}
	var err error
	if out.Keys, err = s.keys.List(ctx); err != nil {
		return out, err
	}
	out.Users, err = users.NewStore(s.db, nil).List(ctx)
	return out, err
}

// paymentSettings fills the payment setup of each configured Telegram bot:
// whether it has a provider token, and the currencies its campaigns charge in.
func (s *stack) paymentSettings(ctx context.Context, rows []web.ChannelSetting) error {
	cur, err := campaigns.NewStore(s.db).PayCurrencies(ctx, string(channels.Telegram))
	if err != nil {
		return err
	}
	for i, r := range rows {
		if r.Kind != string(channels.Telegram) || !r.Configured {
			continue
		}
		snd, _ := s.chans.Registry.SenderOf(channels.Telegram, r.Account)
		p, ok := snd.(interface{ PaymentsConfigured() bool })
		rows[i].Payments = &web.PaymentSetting{ProviderToken: ok && p.PaymentsConfigured(), Currencies: cur[r.Account]}
	}
	return nil
}

// Close releases the runtime.
func (s *stack) Close() { s.rt.Close() }

// server returns the HTTP server with every route of the install.
func (s *stack) server() *server.Server {
	a, d := s.a, s.db
	checks := map[string]server.Check{
		"postgres": func(ctx context.Context) error { return d.PingContext(ctx) },
		"redis":    func(ctx context.Context) error { return s.rt.rdb.Ping(ctx).Err() },
	}
	linter := channelcheck.Linter()
	linter.LoadWhatsApp = catalogue.Loader(d)
	linter.Accounts = s.chans.accounts()
	cstore := campaigns.NewStore(d, campaigns.WithLinter(linter))
	srv := server.New(a.Log, checks,
		s.ui,
		campaigns.NewAPI(campaigns.APIConfig{Store: cstore, Log: a.Log}),
		&preview.API{P: preview.New(cstore, d, nil, s.clock.Now), Log: a.Log},
		consent.NewRoutes(consent.RoutesConfig{DB: d, Config: s.ccfg, Log: a.Log, Now: s.clock.Now}),
		subscribers.NewAPI(subscribers.APIConfig{Store: subscriberStore(d, s.clock.Now), Importer: subscribers.NewImporter(d, s.clock.Now), Log: a.Log}),
		scheduler.NewAPI(d, scheduler.APIConfig{Log: a.Log, Now: s.clock.Now}),
		&scheduler.BroadcastAPI{B: s.casts, Log: a.Log},
		&inbox.API{Svc: s.inbox, Log: a.Log, Live: &inbox.Live{DatabaseURL: s.core.DatabaseURL, Log: a.Log, Svc: s.inbox}},
		s.chans,
		s.rt.metrics,
		&audit.API{DB: d, Log: a.Log},
		s.links,
		&hooks.API{Store: s.hooks, Log: a.Log},
		adminQueues{h: newAsynqmon(s.rt.redisOpt)},
	)
	// Who asks: a session cookie or an API key; each route's action decides
	// whether they may (users.Require, mounted by server.Mux).
	srv.Use(s.ui.Wrap)
	srv.Use(apikeys.Middleware(s.keys, a.Log))
	return srv
}

// loops runs the HTTP side's background work on the flow clock until ctx
// ends: retrying inbound events whose processing failed, flagging
// conversations past their SLA and purging data past its retention period.
func (s *stack) loops(ctx context.Context) error {
	stop, err := startLoops(ctx,
		inbound.NewReconciler(s.sink, s.clock, inbound.DefaultReconcileEvery),
		inbox.NewSLAFlagger(s.inbox, s.clock, inbox.DefaultSLAEvery),
		s.retention)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

// loop is a role's background work between Start and Stop.
type loop interface {
	Start(ctx context.Context) error
	Stop()
}

// startLoops starts ls in order; stop stops them in the reverse order. When
// one fails to start, the ones started before it are stopped again.
func startLoops(ctx context.Context, ls ...loop) (stop func(), err error) {
	stopAll := func(ls []loop) {
		for i := len(ls) - 1; i >= 0; i-- {
			ls[i].Stop()
		}
	}
	for i, l := range ls {
		if err := l.Start(ctx); err != nil {
			stopAll(ls[:i])
			return nil, err
		}
	}
	return func() { stopAll(ls) }, nil
}
