package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/users"
)

// EnableDashboard adds the campaign dashboard. It is read-only, so managers
// see it as well as admins: the figures are what their work produces.
func (w *Web) EnableDashboard(a *analytics.Store) error {
	return w.enable(func() { w.dash = a },
		NavItem{Href: "/dashboard", Label: "Dashboard", About: "Campaign funnels, reactions, fallbacks and uplift", Action: users.DashboardRead},
		[]string{"dashboard", "campaign"},
		route{"GET /dashboard", users.DashboardRead, w.dashboard},
		route{"GET /dashboard.csv", users.FiguresExport, w.dashboardCSV},
		route{"GET /dashboard/{id}", users.DashboardRead, w.campaign},
		route{"GET /dashboard/{id}/csv", users.FiguresExport, w.campaignCSV})
}

func init() {
	Funcs["pct"] = func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }
	Funcs["pctp"] = func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%+.1f pp", 100**f)
	}
	Funcs["secs"] = func(f *float64) string {
		if f == nil {
			return "—"
		}
		return (time.Duration(*f) * time.Second).Round(time.Second).String()
	}
}

func (w *Web) fail(rw http.ResponseWriter, r *http.Request, err error) {
	w.unavailable(rw, r, "dashboard", err)
}

// Periods of the dashboard, counted back from now on the engine clock.
const (
	headlinePeriod = 7 * 24 * time.Hour
	sourcesPeriod  = 30 * 24 * time.Hour
)

func (w *Web) dashboard(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := w.clock.Now()
	cs, err := w.dash.Headlines(ctx, now.Add(-headlinePeriod))
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	since := now.Add(-sourcesPeriod)
	src, err := w.dash.Sources(ctx, since)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	var bars []Bar
	for _, s := range src {
		bars = append(bars, Bar{Label: s.Source + " · " + s.Channel, Value: float64(s.N), Note: fmt.Sprint(s.N)})
	}
	data := map[string]any{"Campaigns": cs, "Sources": src, "SourcesChart": hbarChart("Subscribers by first opt-in source", bars),
		"Since": now.Add(-headlinePeriod)}
	if w.inbox != nil {
		if f, err := w.inbox.Stats(ctx, since); err == nil {
			data["Figures"] = f
		}
	}
	w.Render(rw, r, "dashboard", "Dashboard", data)
}

type campaignPage struct {
	ID, Version   string
	Versions      []analytics.Version
	F             analytics.Funnel
	R             analytics.Reactions
	Channels      []analytics.ChannelUse
	FunnelChart   template.HTML
	ReactionChart template.HTML
	ChannelChart  template.HTML
}

func (w *Web) load(ctx context.Context, id, version string) (campaignPage, error) {
	p := campaignPage{ID: id, Version: version}
	var err error
	if p.Versions, err = w.dash.Versions(ctx, id); err != nil {
		return p, err
	}
	if p.F, err = w.dash.Funnel(ctx, id, version); err != nil {
		return p, err
	}
	if p.R, err = w.dash.Reactions(ctx, id, version); err != nil {
		return p, err
	}
	p.Channels, err = w.dash.Channels(ctx, id, version)
	return p, err
}

func (w *Web) campaign(rw http.ResponseWriter, r *http.Request) {
	p, err := w.load(r.Context(), r.PathValue("id"), r.URL.Query().Get("version"))
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if len(p.Versions) == 0 {
		http.NotFound(rw, r)
		return
	}
	var fb []Bar
	for _, s := range p.F.Steps() {
		class := ""
		switch s.Label {
		case "Replied positive", "Goal reached":
			class = "positive"
		case "Replied negative", "Handed off":
			class = "negative"
		}
		fb = append(fb, Bar{Label: s.Label, Value: float64(s.N), Note: fmt.Sprintf("%d · %.0f%%", s.N, 100*s.Rate), Class: class})
	}
	p.FunnelChart = hbarChart("Funnel", fb)
	var rb []Bar
	for _, b := range p.R.Buckets {
		rb = append(rb, Bar{Label: b.Label, Value: float64(b.N), Note: fmt.Sprint(b.N)})
	}
	p.ReactionChart = vbarChart("Reaction time", rb)
	var cb []Bar
	for _, c := range p.Channels {
		cb = append(cb, Bar{Label: c.Channel + " first", Value: float64(c.First), Note: fmt.Sprint(c.First)})
		if c.Fallback > 0 {
			cb = append(cb, Bar{Label: c.Channel + " fallback", Value: float64(c.Fallback), Note: fmt.Sprint(c.Fallback), Class: "muted"})
		}
	}
	p.ChannelChart = hbarChart("Messages by channel (not runs)", cb)
	w.Render(rw, r, "campaign", p.F.Name, p)
}

// ratio formats an optional ratio for CSV ("" when nil).
func ratio(f *float64) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf("%.4f", *f)
}

// csvCell defuses spreadsheet formula injection: a cell that starts like a
// formula is prefixed with an apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(rw http.ResponseWriter, name string, header []string, rows [][]string) {
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, name)))
	cw := csv.NewWriter(rw)
	_ = cw.Write(header)
	for _, row := range rows {
		for i := range row {
			row[i] = csvCell(row[i])
		}
		_ = cw.Write(row)
	}
	cw.Flush()
}

func (w *Web) dashboardCSV(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var (
		name   string
		header []string
		rows   [][]string
		err    error
	)
	switch r.URL.Query().Get("table") {
	case "campaigns":
		var cs []analytics.Headline
		cs, err = w.dash.Headlines(ctx, w.clock.Now().Add(-headlinePeriod))
		for _, c := range cs {
			goal := ""
			if g := c.GoalRate(); g != nil {
				goal = fmt.Sprintf("%.4f", *g)
			}
			f := c.Funnel
			rows = append(rows, []string{c.ID, c.Name, c.Current, fmt.Sprint(c.Versions), fmt.Sprint(c.Runs),
				fmt.Sprint(f.Audience), fmt.Sprint(f.Sent), fmt.Sprint(f.Read), fmt.Sprint(f.Clicked), fmt.Sprint(f.Replied), goal})
		}
		name, header = "campaigns", []string{"campaign", "name", "current_version", "versions", "runs",
			"audience_7d", "sent_7d", "read_7d", "clicked_7d", "replied_7d", "goal_rate_7d"}
	case "sources":
		var src []analytics.Source
		src, err = w.dash.Sources(ctx, w.clock.Now().Add(-sourcesPeriod))
		for _, s := range src {
			rows = append(rows, []string{s.Source, s.Channel, fmt.Sprint(s.N)})
		}
		name, header = "optin-sources", []string{"source", "channel", "subscribers"}
	default:
		http.Error(rw, "table must be campaigns or sources", http.StatusBadRequest)
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	writeCSV(rw, name, header, rows)
}

func (w *Web) campaignCSV(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	version := r.URL.Query().Get("version")
	p, err := w.load(r.Context(), id, version)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	var rows [][]string
	switch table := r.URL.Query().Get("table"); table {
	case "funnel":
		for _, s := range p.F.Steps() {
			rows = append(rows, []string{s.Label, fmt.Sprint(s.N), fmt.Sprintf("%.4f", s.Rate)})
		}
		rows = append(rows, []string{"Holdout", fmt.Sprint(p.F.Holdout), ""}, []string{"Skipped by policy", fmt.Sprint(p.F.Skipped), ""})
		if p.F.Unknown > 0 {
			rows = append(rows, []string{"Unknown", fmt.Sprint(p.F.Unknown), ""})
		}
		writeCSV(rw, id+"-funnel", []string{"stage", "runs", "rate"}, rows)
	case "reactions":
		for _, b := range p.R.Buckets {
			rows = append(rows, []string{b.Label, fmt.Sprint(b.N)})
		}
		writeCSV(rw, id+"-reactions", []string{"reaction_time", "replies"}, rows)
	case "channels":
		for _, c := range p.Channels {
			rows = append(rows, []string{c.Channel, fmt.Sprint(c.First), fmt.Sprint(c.Fallback), fmt.Sprint(c.Delivered), fmt.Sprint(c.Failed)})
		}
		writeCSV(rw, id+"-channels", []string{"channel", "first", "fallback", "delivered", "failed"}, rows)
	case "clicks":
		for _, c := range p.F.Clicks {
			rows = append(rows, []string{c.Step, c.Channel, fmt.Sprint(c.Sent), fmt.Sprint(c.WithLinks), fmt.Sprint(c.Clicked),
				fmt.Sprintf("%.4f", c.Rate()), fmt.Sprint(c.Clicks), fmt.Sprint(c.BotClicks)})
		}
		writeCSV(rw, id+"-clicks", []string{"step", "channel", "sent", "with_links", "clicked", "click_rate", "clicks", "link_previews"}, rows)
	case "goal":
		if g := p.F.Goal; g != nil {
			rows = append(rows, []string{"treated", fmt.Sprint(g.TreatedRuns), fmt.Sprint(g.TreatedReached), fmt.Sprintf("%.4f", g.TreatedRate)},
				[]string{"holdout", fmt.Sprint(g.HoldoutRuns), fmt.Sprint(g.HoldoutReached), fmt.Sprintf("%.4f", g.HoldoutRate)})
		}
		writeCSV(rw, id+"-goal", []string{"group", "runs", "reached", "rate"}, rows)
	case "variants":
		for _, sp := range p.F.Splits {
			for _, v := range sp.Variants {
				f := v.Funnel
				reached, goalRate := "", ""
				if g := f.Goal; g != nil {
					reached, goalRate = fmt.Sprint(g.TreatedReached), fmt.Sprintf("%.4f", g.TreatedRate)
				}
				rows = append(rows, []string{sp.Step, v.ID, fmt.Sprintf("%.4f", v.Share), v.Goto, fmt.Sprint(f.Audience), fmt.Sprint(f.Sent),
					fmt.Sprint(f.Delivered), fmt.Sprint(f.Read), fmt.Sprint(f.Replied), reached, goalRate, ratio(v.Diff), ratio(v.DiffLo), ratio(v.DiffHi)})
			}
		}
		writeCSV(rw, id+"-variants", []string{"split_step", "variant", "share", "goto", "runs", "sent", "delivered", "read", "replied",
			"goal_reached", "goal_rate", "diff", "diff_lo", "diff_hi"}, rows)
	default:
		http.Error(rw, "table must be funnel, goal, variants, clicks, reactions or channels", http.StatusBadRequest)
	}
}
