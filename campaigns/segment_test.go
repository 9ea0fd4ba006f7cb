package campaigns

import (
	"strings"
	"testing"
)

const segmentBase = `kind: segment
id: weekly-eaters
name: Weekly eaters
consent: marketing
channels: [telegram, sms]
where:
  - {attr: plan, op: eq, value: weekly}
  - {attr: time_zone, op: in, value: [Europe/Moscow, Asia/Yekaterinburg]}
has_event:
  - {name: order.delivered, within: 30d, min_count: 2, last: [{attr: box, op: eq, value: family}]}
no_event:
  - {name: subscription.cancelled, within: 30d}
reachable: [telegram, sms]
opt_in_source: [widget, jwt_link]
`

func TestSegmentLint(t *testing.T) {
	f, err := Parse("s.yaml", []byte(segmentBase))
	if err != nil || !f.IsSegment() {
		t.Fatalf("parse: %v, segment %v", err, f.IsSegment())
	}
	if errs := Lint([]*File{f}); len(errs) > 0 {
		t.Fatalf("clean segment has problems: %v", errs)
	}
	s := f.Segment
	if s.ID != "weekly-eaters" || s.Topic() != TopicMarketing || len(s.HasEvent) != 1 || s.HasEvent[0].MinCount != 2 || s.HasEvent[0].Last[0].Attr != "box" {
		t.Fatalf("decoded %+v", s)
	}
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"unknown field", "reachable:", "reachabel:", []string{"s.yaml:13:1: unknown-field"}},
		{"missing name", "name: Weekly eaters\n", "", []string{"s.yaml:1:1: required-field"}},
		{"bad channel", "channels: [telegram, sms]", "channels: [telegram, smss]", []string{"s.yaml:5:22: invalid-value"}},
		{"bad source", "[widget, jwt_link]", "[widget, jwt]", []string{"s.yaml:14:25: invalid-value"}},
		{"bad operator", "op: eq, value: weekly", "op: equals, value: weekly", []string{"s.yaml:7:22: invalid-value"}},
		{"bad last operator", "op: eq, value: family", "op: like, value: family", []string{"s.yaml:10:79: invalid-value"}},
		{"no_event count", "subscription.cancelled, within: 30d}", "subscription.cancelled, within: 30d, min_count: 2}", []string{"s.yaml:12:5: invalid-value"}},
		{"bad duration", "within: 30d, min", "within: 30days, min", []string{"s.yaml:10:37: invalid-duration"}},
		{"bad consent", "consent: marketing", "consent: promo", []string{"s.yaml:4:10: invalid-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(segmentBase, tt.old, tt.new, 1)
			if src == segmentBase {
				t.Fatal("edit did not apply")
			}
			f, _ := Parse("s.yaml", []byte(src))
			got := short(Lint([]*File{f}))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Two files with one segment id; a campaign naming a segment; a
	// branch's has_event refuses a count; a campaign of an unknown kind.
	a, _ := Parse("a.yaml", []byte(segmentBase))
	b, _ := Parse("b.yaml", []byte(segmentBase))
	if got := short(Lint([]*File{a, b})); strings.Join(got, " ") != "b.yaml:2:5: duplicate-id" {
		t.Errorf("duplicate segment ids: %q", got)
	}
	c, _ := Parse("c.yaml", []byte(strings.Replace(base, "settings:", "audience:\n  segment: weekly-eaters\n  reachable: [telegram]\nsettings:", 1)))
	if errs := Lint([]*File{c}); len(errs) > 0 || c.Def.Audience.Segment != "weekly-eaters" {
		t.Errorf("campaign naming a segment: %v", errs)
	}
	k, _ := Parse("k.yaml", []byte("kind: segmnt\n"+base))
	if got := short(Lint([]*File{k})); strings.Join(got, " ") != "k.yaml:1:7: invalid-value" {
		t.Errorf("unknown kind: %q", got)
	}
}
