package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// Funnel is one campaign version's numbers.
type Funnel struct {
	CampaignID string `json:"campaign_id"`
	Version    string `json:"version"` // "" = all versions
	Name       string `json:"name"`

	Audience  int `db:"audience" json:"audience"` // treated runs
	Holdout   int `db:"holdout" json:"holdout"`
	Sent      int `db:"sent" json:"sent"` // runs with at least one message sent
	Delivered int `db:"delivered" json:"delivered"`
	Read      int `db:"read" json:"read"`
	// Clicked counts runs with a tracked link a person opened (package
	// links; link-preview bots do not count).
	Clicked   int `db:"clicked" json:"clicked"`
	Replied   int `db:"replied" json:"replied"`
	Positive  int `db:"positive" json:"positive"`
	Negative  int `db:"negative" json:"negative"`
	Neutral   int `db:"neutral" json:"neutral"`
	HandedOff int `db:"handed_off" json:"handed_off"`
	Skipped   int `db:"skipped" json:"skipped"` // runs whose sends were all skipped by policy
	// Unknown counts runs with a message a crashed worker left in flight to a
	// provider that does not deduplicate: it may or may not have arrived.
	Unknown int `db:"unknown" json:"unknown"`

	Goal *Goal `json:"goal,omitempty"`
	// Splits compares the variants of each split step of the version (of
	// the current version when Version is ""), in the order of the steps.
	Splits []Split `json:"splits,omitempty"`
	// NoReads lists the channels that carried the campaign's messages but
	// report no reads (channels.HasReadReceipts): their runs can reply
	// without counting as read, so Read may trail Replied.
	NoReads []string `json:"no_reads,omitempty"`
	// Clicks breaks the tracked links' clicks down by step and channel
	// (messages, not runs), for the steps whose messages had links.
	Clicks []ClickUse `json:"clicks,omitempty"`
}

// ClickUse is what the tracked links of one step's messages on one channel
// got: messages sent, those with a tracked link, those a person clicked,
// the clicks, and the link-preview bots' fetches counted apart.
type ClickUse struct {
	Step      string `db:"step" json:"step"`
	Channel   string `db:"channel" json:"channel"`
	Sent      int    `db:"sent" json:"sent"`
	WithLinks int    `db:"with_links" json:"with_links"`
	Clicked   int    `db:"clicked" json:"clicked"`
	Clicks    int    `db:"clicks" json:"clicks"`
	BotClicks int    `db:"bot_clicks" json:"bot_clicks"`
}

// Rate is the share of the sent messages with links that a person clicked.
func (c ClickUse) Rate() float64 { return rate(c.Clicked, c.WithLinks) }

// Goal compares the goal rate of treated runs with the holdout.
type Goal struct {
	Event          string  `json:"event"`
	Window         string  `json:"window"`
	TreatedRuns    int     `json:"treated_runs"`
	TreatedReached int     `json:"treated_reached"`
	HoldoutRuns    int     `json:"holdout_runs"`
	HoldoutReached int     `json:"holdout_reached"`
	TreatedRate    float64 `json:"treated_rate"`
	HoldoutRate    float64 `json:"holdout_rate"`
	// Uplift is TreatedRate − HoldoutRate with a 95% confidence interval
	// (normal approximation of a difference of two proportions); nil when
	// either group is empty.
	Uplift   *float64 `json:"uplift,omitempty"`
	UpliftLo *float64 `json:"uplift_lo,omitempty"`
	UpliftHi *float64 `json:"uplift_hi,omitempty"`
}

// Split is the A/B comparison of one split step: a funnel per variant.
type Split struct {
	Step     string    `json:"step"`
	Variants []Variant `json:"variants"`
}

// Variant is the funnel of the runs a split sent down one variant. With a
// goal, Diff is its goal rate minus the first variant's, with a 95%
// confidence interval computed as the holdout uplift is (nil for the first
// variant and when either has no run).
type Variant struct {
	ID     string  `json:"id"`
	Goto   string  `json:"goto"`
	Weight float64 `json:"weight"`
	// Share is Weight over the sum of the split's weights: the share of
	// runs the variant is meant to get.
	Share  float64  `json:"share"`
	Funnel Funnel   `json:"funnel"`
	Diff   *float64 `json:"diff,omitempty"`
	DiffLo *float64 `json:"diff_lo,omitempty"`
	DiffHi *float64 `json:"diff_hi,omitempty"`
}

// Step of the funnel, in order, for charts and CSV.
type Step struct {
	Label string
	N     int
	Rate  float64 // of the audience
}

// Steps lists the funnel stages in order.
func (f Funnel) Steps() []Step {
	rows := []Step{{"Audience", f.Audience, 0}, {"Sent", f.Sent, 0}, {"Delivered", f.Delivered, 0}, {"Read", f.Read, 0},
		{"Clicked", f.Clicked, 0}, {"Replied", f.Replied, 0}, {"Replied positive", f.Positive, 0}, {"Replied negative", f.Negative, 0},
		{"Replied neutral", f.Neutral, 0}, {"Handed off", f.HandedOff, 0}}
	if f.Goal != nil {
		rows = append(rows, Step{"Goal reached", f.Goal.TreatedReached, 0})
	}
	for i := range rows {
		if f.Audience > 0 {
			rows[i].Rate = float64(rows[i].N) / float64(f.Audience)
		}
	}
	return rows
}

// Campaign is a row of the campaign list.
type Campaign struct {
	ID       string     `db:"id" json:"id"`
	Current  string     `db:"current_version" json:"current_version"`
	Versions int        `db:"versions" json:"versions"`
	Runs     int        `db:"runs" json:"runs"`
	Archived *time.Time `db:"archived_at" json:"archived_at,omitempty"`
}

// Version is a campaign version row.
type Version struct {
	Version   string    `db:"version" json:"version"`
	Number    int       `db:"number" json:"number"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	Runs      int       `db:"runs" json:"runs"`
}

// Reactions summarises how long customers took to reply.
type Reactions struct {
	N       int      `json:"n"`
	MedianS *float64 `json:"median_s,omitempty"`
	P90S    *float64 `json:"p90_s,omitempty"`
	Buckets []Bucket `json:"buckets"`
}

// Bucket is a histogram bar.
type Bucket struct {
	Label string `db:"label" json:"label"`
	N     int    `db:"n" json:"n"`
}

// ChannelUse is how often a channel carried the first message or a fallback.
type ChannelUse struct {
	Channel   string `db:"channel" json:"channel"`
	First     int    `db:"first" json:"first"`
	Fallback  int    `db:"fallback" json:"fallback"`
	Delivered int    `db:"delivered" json:"delivered"`
	Failed    int    `db:"failed" json:"failed"`
}

// Source is an opt-in source from consent proofs and deep-link attribution.
type Source struct {
	Source  string `db:"source" json:"source"`
	Channel string `db:"channel" json:"channel"`
	N       int    `db:"n" json:"n"`
}

// Store reads the analytics.
type Store struct {
	db       *sqlx.DB
	versions *campaigns.Versions
}

// New returns a store.
func New(d *sqlx.DB) *Store { return &Store{db: d, versions: campaigns.NewVersions(d)} }

// Campaigns lists campaigns with their run counts.
func (s *Store) Campaigns(ctx context.Context) ([]Campaign, error) {
	return db.Select[Campaign](ctx, s.db, "analytics: campaigns", qCampaigns)
}

// Headline is a campaign's name and the funnel of its runs in a period.
type Headline struct {
	Campaign
	Name   string `json:"name"` // from the current version's definition; "" if it has none
	Funnel Funnel `json:"funnel"`
}

// GoalRate is the share of treated runs that reached the goal, nil when the
// campaign has no goal step or no treated run.
func (h Headline) GoalRate() *float64 {
	g := h.Funnel.Goal
	if g == nil || g.TreatedRuns == 0 {
		return nil
	}
	return &g.TreatedRate
}

// Headlines lists every campaign with its name and the funnel of the runs
// that started at or after since (the dashboard passes a week ago on the
// engine clock).
func (s *Store) Headlines(ctx context.Context, since time.Time) ([]Headline, error) {
	cs, err := s.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Headline, 0, len(cs))
	for _, c := range cs {
		f, err := s.FunnelSince(ctx, c.ID, "", since)
		if err != nil {
			return nil, err
		}
		out = append(out, Headline{Campaign: c, Name: f.Name, Funnel: f})
	}
	return out, nil
}

// Versions lists a campaign's versions, newest first.
func (s *Store) Versions(ctx context.Context, campaignID string) ([]Version, error) {
	return db.Select[Version](ctx, s.db, "analytics: versions", qVersions, campaignID)
}

// Funnel computes the funnel of a campaign version ("" = all versions).
func (s *Store) Funnel(ctx context.Context, campaignID, version string) (Funnel, error) {
	return s.FunnelSince(ctx, campaignID, version, time.Time{})
}

// FunnelSince computes the funnel of the runs of a campaign version ("" =
// all versions) that started at or after since (zero: every run), and the
// funnel of each variant of its split steps.
func (s *Store) FunnelSince(ctx context.Context, campaignID, version string, since time.Time) (Funnel, error) {
	def, err := s.definition(ctx, campaignID, version)
	if err != nil {
		return Funnel{CampaignID: campaignID, Version: version}, err
	}
	f, err := s.funnel(ctx, campaignID, version, since, def, runsOfVariant{})
	if err != nil {
		return f, err
	}
	var used []string
	if err := s.db.SelectContext(ctx, &used, qSentChannels, campaignID, version); err != nil {
		return f, fmt.Errorf("analytics: channels of %s: %w", campaignID, err)
	}
	for _, ch := range used {
		if !channels.HasReadReceipts(channels.Kind(ch)) {
			f.NoReads = append(f.NoReads, ch)
		}
	}
	if err := s.db.SelectContext(ctx, &f.Clicks, qClicks, campaignID, version, since); err != nil {
		return f, fmt.Errorf("analytics: clicks of %s: %w", campaignID, err)
	}
	if def == nil {
		return f, nil
	}
	f.Name = def.Name
	for _, st := range def.Steps {
		if st.Split == nil {
			continue
		}
		sp := Split{Step: st.ID}
		total := 0.0
		for _, v := range st.Split.Variants {
			total += v.Weight
		}
		for i, v := range st.Split.Variants {
			vf, err := s.funnel(ctx, campaignID, version, since, def, runsOfVariant{st.ID, v.ID})
			if err != nil {
				return f, err
			}
			out := Variant{ID: v.ID, Goto: v.Goto, Weight: v.Weight, Share: share(v.Weight, total), Funnel: vf}
			if first := sp.Variants; i > 0 && vf.Goal != nil && first[0].Funnel.Goal != nil {
				a, b := first[0].Funnel.Goal, vf.Goal
				out.Diff, out.DiffLo, out.DiffHi = uplift(b.TreatedReached, b.TreatedRuns, a.TreatedReached, a.TreatedRuns)
			}
			sp.Variants = append(sp.Variants, out)
		}
		f.Splits = append(f.Splits, sp)
	}
	return f, nil
}

// runsOfVariant restricts a funnel to the runs a split step sent down one
// variant; the zero value counts every run.
type runsOfVariant struct{ step, variant string }

// funnel counts the runs of a campaign version that started at or after
// since (of one split variant, or all) and, when def has a goal step, how
// many of them reached the goal, treated and held out.
func (s *Store) funnel(ctx context.Context, campaignID, version string, since time.Time, def *campaigns.Definition, only runsOfVariant) (Funnel, error) {
	f := Funnel{CampaignID: campaignID, Version: version}
	if err := s.db.GetContext(ctx, &f, qFunnel, campaignID, version, since, only.step, only.variant); err != nil {
		return f, fmt.Errorf("analytics: funnel: %w", err)
	}
	if def == nil {
		return f, nil
	}
	for _, st := range def.Steps {
		if st.Goal == nil {
			continue
		}
		g := Goal{Event: st.Goal.Event, Window: st.Goal.Within.String()}
		var row struct {
			TR int `db:"treated_runs"`
			TH int `db:"treated_reached"`
			HR int `db:"holdout_runs"`
			HH int `db:"holdout_reached"`
		}
		secs := st.Goal.Within.D().Seconds()
		if err := s.db.GetContext(ctx, &row, qGoal, campaignID, version, since, only.step, only.variant, st.Goal.Event, secs); err != nil {
			return f, fmt.Errorf("analytics: goal: %w", err)
		}
		g.TreatedRuns, g.TreatedReached, g.HoldoutRuns, g.HoldoutReached = row.TR, row.TH, row.HR, row.HH
		g.TreatedRate, g.HoldoutRate = rate(row.TH, row.TR), rate(row.HH, row.HR)
		g.Uplift, g.UpliftLo, g.UpliftHi = uplift(row.TH, row.TR, row.HH, row.HR)
		f.Goal = &g
		break
	}
	return f, nil
}

func rate(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

func share(part, total float64) float64 {
	if total <= 0 {
		return 0
	}
	return part / total
}

// uplift is p1−p2 with the 95% Wald interval of a difference of proportions:
// the one computation of both the holdout uplift and a split variant's
// difference from the first variant.
func uplift(k1, n1, k2, n2 int) (d, lo, hi *float64) {
	if n1 == 0 || n2 == 0 {
		return nil, nil, nil
	}
	p1, p2 := rate(k1, n1), rate(k2, n2)
	diff := p1 - p2
	se := math.Sqrt(p1*(1-p1)/float64(n1) + p2*(1-p2)/float64(n2))
	l, h := diff-1.96*se, diff+1.96*se
	return &diff, &l, &h
}

// definition returns a campaign version's definition ("" = the current
// version), nil for an unknown campaign or version (an empty funnel).
func (s *Store) definition(ctx context.Context, campaignID, version string) (*campaigns.Definition, error) {
	var def *campaigns.Definition
	var err error
	if version == "" {
		def, err = s.versions.Current(ctx, campaignID)
	} else {
		def, err = s.versions.Get(ctx, campaignID, version)
	}
	if errors.Is(err, campaigns.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	return def, nil
}

// Reactions returns reaction-time figures of a campaign's replies.
func (s *Store) Reactions(ctx context.Context, campaignID, version string) (Reactions, error) {
	var r Reactions
	var row struct {
		N   int      `db:"n"`
		P50 *float64 `db:"p50"`
		P90 *float64 `db:"p90"`
	}
	if err := s.db.GetContext(ctx, &row, qReactions, campaignID, version); err != nil {
		return r, fmt.Errorf("analytics: reactions: %w", err)
	}
	r.N, r.MedianS, r.P90S = row.N, row.P50, row.P90
	r.Buckets = []Bucket{}
	if err := s.db.SelectContext(ctx, &r.Buckets, qReactionBuckets, campaignID, version); err != nil {
		return r, fmt.Errorf("analytics: reaction buckets: %w", err)
	}
	return r, nil
}

// Channels returns channel use (first attempt and fallbacks) of a campaign.
func (s *Store) Channels(ctx context.Context, campaignID, version string) ([]ChannelUse, error) {
	return db.Select[ChannelUse](ctx, s.db, "analytics: channels", qChannels, campaignID, version)
}

// Sources counts subscribers by the source of their first opt-in (the
// deep link's utm_source when the proof carries one, else the consent
// source), for subscribers whose first opt-in came at or after since. Each
// subscriber counts once, however many channels and topics they granted.
func (s *Store) Sources(ctx context.Context, since time.Time) ([]Source, error) {
	return db.Select[Source](ctx, s.db, "analytics: sources", qSources, since)
}
