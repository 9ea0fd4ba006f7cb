package users

import (
	"context"
	"slices"
	"strings"
)

// Role is what a person (or an API key) may do: see grants.
type Role string

// The roles. Admin may do everything; the others what grants lists.
const (
	Admin    Role = "admin"
	Marketer Role = "marketer" // campaigns, dashboards, subscribers read-only, exports of figures
	Manager  Role = "manager"  // the inbox, limited to the queues they are given; reads the dashboards
	Viewer   Role = "viewer"   // dashboards
)

// Roles lists every role, strongest first.
var Roles = []Role{Admin, Marketer, Manager, Viewer}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Action is something a route lets its caller do. Every route names one
// (internal/server registers a route only with its action).
type Action string

// The actions.
const (
	// Public routes need no sign-in: webhooks, the opt-in widget, the
	// sign-in page, health and metrics.
	Public Action = "public"
	// SignedIn is anyone signed in, whatever their role (the start page,
	// signing out).
	SignedIn Action = "signed_in"

	DashboardRead    Action = "dashboard.read"    // funnels and figures on the pages
	FiguresExport    Action = "figures.export"    // the dashboards' CSV downloads
	CampaignsRead    Action = "campaigns.read"    // list, show, versions, preview
	CampaignsWrite   Action = "campaigns.write"   // apply, archive
	CampaignsTrigger Action = "campaigns.trigger" // transactional sends from the shop's backend
	SubscribersRead  Action = "subscribers.read"  // subscribers and their consent, read-only
	SubscribersWrite Action = "subscribers.write" // upsert, events, import, consent
	SubscribersErase Action = "subscribers.erase" // erasure and the export of one subscriber's data
	InboxWork        Action = "inbox.work"        // conversations of the actor's queues
	Settings         Action = "settings"          // settings, API keys, users, the queue monitor
	AuditRead        Action = "audit.read"        // the audit log
)

// Actions lists every action, for the route × role table test.
var Actions = []Action{Public, SignedIn, DashboardRead, FiguresExport, CampaignsRead, CampaignsWrite,
	CampaignsTrigger, SubscribersRead, SubscribersWrite, SubscribersErase, InboxWork, Settings, AuditRead}

// grants is who may do what besides admins (who may do everything).
// Managers read the dashboards (the figures their conversations make);
// exports of figures stay the marketers'.
var grants = map[Action][]Role{
	SignedIn:        {Marketer, Manager, Viewer},
	DashboardRead:   {Marketer, Manager, Viewer},
	FiguresExport:   {Marketer},
	CampaignsRead:   {Marketer},
	CampaignsWrite:  {Marketer},
	SubscribersRead: {Marketer},
	InboxWork:       {Manager},
}

// Can reports whether r may do a. Public is for everyone; an unknown role
// may do nothing else.
func (r Role) Can(a Action) bool {
	switch {
	case a == Public:
		return true
	case r == Admin:
		return true
	}
	return slices.Contains(grants[a], r)
}

// Actor is who makes a request: a signed-in user or an API key.
type Actor struct {
	Kind   string // "user" or "key"
	ID     int64
	Name   string // the user's email or the key's name
	Role   Role
	Queues []string // the inbox queues of a manager; empty = every queue
	From   string   // the client's address
	// CSRF is the session's synchroniser token; "" for API keys, which
	// are not sent by browsers and need none.
	CSRF string
}

// Ref names the actor in the audit log and on campaign versions:
// "user:EMAIL" or "key:NAME".
func (a Actor) Ref() string { return a.Kind + ":" + a.Name }

// InQueue reports whether the actor works queue q: managers only the
// queues given to them (all when none), everyone else every queue.
func (a Actor) InQueue(q string) bool {
	if a.Role != Manager || len(a.Queues) == 0 {
		return true
	}
	return slices.Contains(a.Queues, q)
}

// QueueLimit is the queues the actor is limited to, nil for all.
func (a Actor) QueueLimit() []string {
	if a.Role != Manager || len(a.Queues) == 0 {
		return nil
	}
	return a.Queues
}

type actorKey struct{}

// WithActor returns ctx carrying a (the session and API key middlewares).
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of a request, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// ParseQueues reads a comma-separated list of queue names.
func ParseQueues(s string) []string {
	out := []string{}
	for _, q := range strings.Split(s, ",") {
		if q = strings.TrimSpace(q); q != "" && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}
