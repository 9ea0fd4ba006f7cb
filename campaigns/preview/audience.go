package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/scheduler"
)

// AudienceCheck is one part of the campaign's audience and whether the
// subscriber meets it.
type AudienceCheck struct {
	Part   string `json:"part"`             // "consent", "where[0]", "has_event[1]", …
	Rule   string `json:"rule"`             // the part in words
	Holds  bool   `json:"holds"`            // the subscriber meets it
	Detail string `json:"detail,omitempty"` // what the subscriber has, when it fails
}

// audience evaluates the campaign's audience for one subscriber with the
// scheduler's own predicate (scheduler.AudienceWhere), so a preview can
// never disagree with who a run is created for. Each part is evaluated too,
// to say which one excludes the subscriber: consent alone, each where
// condition (campaigns.Condition.SQL, which AudienceWhere uses), each event
// filter together with consent (so only when consent holds).
func (p *Previewer) audience(ctx context.Context, def *campaigns.Definition, sub int64, s campaigns.Subject, at time.Time) (bool, []AudienceCheck, error) {
	topic := def.Audience.Consent
	if topic == "" {
		topic = def.Topic
	}
	target, err := scheduler.ResolveTarget(ctx, p.DB, def, at)
	if err != nil {
		return false, nil, fmt.Errorf("preview: audience: %w", err)
	}
	member := func(aud campaigns.Audience) (bool, error) {
		args := &scheduler.Args{}
		where, err := scheduler.AudienceWhere(aud, target, args)
		if err != nil {
			return false, err
		}
		return p.holds(ctx, where, args, sub)
	}
	in, err := member(def.Audience)
	if err != nil {
		return false, nil, fmt.Errorf("preview: audience: %w", err)
	}
	var checks []AudienceCheck
	consent, err := member(campaigns.Audience{Consent: def.Audience.Consent})
	if err != nil {
		return false, nil, fmt.Errorf("preview: audience consent: %w", err)
	}
	c := AudienceCheck{Part: "consent", Holds: consent,
		Rule: fmt.Sprintf("%s consent on one of %s", topic, strings.Join(def.Settings.Channels, ", "))}
	if !consent {
		c.Detail = "no current " + string(topic) + " consent on those channels"
	}
	checks = append(checks, c)
	if target.Segment != nil {
		args := &scheduler.Args{}
		pred, err := scheduler.SegmentWhere(target.Segment, at, args)
		if err != nil {
			return false, nil, fmt.Errorf("preview: audience segment: %w", err)
		}
		ok, err := p.holds(ctx, pred, args, sub)
		if err != nil {
			return false, nil, fmt.Errorf("preview: audience segment: %w", err)
		}
		c := AudienceCheck{Part: "segment", Rule: "a member of segment " + target.Segment.ID, Holds: ok}
		if !ok {
			c.Detail = "not a member of segment " + target.Segment.ID
		}
		checks = append(checks, c)
	}
	for i, w := range def.Audience.Where {
		args := &scheduler.Args{}
		pred, err := w.SQL("s", args)
		if err != nil {
			return false, nil, fmt.Errorf("preview: audience where[%d]: %w", i, err)
		}
		ok, err := p.holds(ctx, pred, args, sub)
		if err != nil {
			return false, nil, fmt.Errorf("preview: audience where[%d]: %w", i, err)
		}
		c := AudienceCheck{Part: fmt.Sprintf("where[%d]", i), Rule: conditionText(w), Holds: ok}
		if !ok {
			if v, present := w.Lookup(s); present {
				b, _ := json.Marshal(v)
				c.Detail = fmt.Sprintf("%s is %s", w.Attr, b)
			} else {
				c.Detail = fmt.Sprintf("the subscriber has no %s", w.Attr)
			}
		}
		checks = append(checks, c)
	}
	events := func(part string, fs []campaigns.EventFilter, has bool) error {
		for i, f := range fs {
			c := AudienceCheck{Part: fmt.Sprintf("%s[%d]", part, i), Rule: eventText(f, has)}
			if !consent {
				c.Detail = "not evaluated: the audience needs consent first"
				checks = append(checks, c)
				continue
			}
			aud := campaigns.Audience{Consent: def.Audience.Consent}
			if has {
				aud.HasEvent = []campaigns.EventFilter{f}
			} else {
				aud.NoEvent = []campaigns.EventFilter{f}
			}
			ok, err := member(aud)
			if err != nil {
				return fmt.Errorf("preview: audience %s: %w", c.Part, err)
			}
			c.Holds = ok
			if !ok && has {
				c.Detail = "no such event in that window"
			} else if !ok {
				c.Detail = "the subscriber has such an event in that window"
			}
			checks = append(checks, c)
		}
		return nil
	}
	if err := events("has_event", def.Audience.HasEvent, true); err != nil {
		return false, nil, err
	}
	if err := events("no_event", def.Audience.NoEvent, false); err != nil {
		return false, nil, err
	}
	return in, checks, nil
}

// holds runs one audience predicate for one subscriber.
func (p *Previewer) holds(ctx context.Context, where string, args *scheduler.Args, sub int64) (bool, error) {
	id := args.Add(sub)
	var ok bool
	err := p.DB.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = `+id+` AND `+where+`)`, args.Values()...)
	return ok, err
}

func conditionText(c campaigns.Condition) string {
	if c.Value == nil {
		return c.Attr + " " + string(c.Op)
	}
	b, err := json.Marshal(c.Value)
	if err != nil {
		return fmt.Sprintf("%s %s %v", c.Attr, c.Op, c.Value)
	}
	return c.Attr + " " + string(c.Op) + " " + string(b)
}

func eventText(f campaigns.EventFilter, has bool) string {
	s := "posted " + strconv.Quote(f.Name)
	if !has {
		s = "did not post " + strconv.Quote(f.Name)
	}
	if f.Within > 0 {
		s += " within " + f.Within.String()
	} else {
		s += " ever"
	}
	return s
}
