package policy

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

func ptr[T any](v T) *T { return &v }

var now = time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC) // 14:00 in Berlin

func base() Input {
	return Input{
		Topic: campaigns.TopicMarketing, Now: now, Location: time.UTC,
		Consent: map[channels.Kind]bool{channels.Telegram: true, channels.SMS: true, channels.WhatsApp: true, channels.Messenger: true},
		Identities: map[channels.Kind]Identity{
			channels.Telegram:  {Address: "111"},
			channels.SMS:       {Address: "+79990001122"},
			channels.WhatsApp:  {Address: "79990001122", LastInboundAt: ptr(now.Add(-time.Hour))},
			channels.Messenger: {Address: "psid", LastInboundAt: ptr(now.Add(-24 * time.Hour))},
		},
	}
}

func TestDecide(t *testing.T) {
	tg, sms, wa, fb, ig := channels.Telegram, channels.SMS, channels.WhatsApp, channels.Messenger, channels.Instagram
	cases := []struct {
		name       string
		mod        func(in *Input)
		candidates []channels.Kind
		want       Decision
	}{
		{"first channel", nil, []channels.Kind{tg, sms}, Decision{Send: true, Channel: tg, Address: "111"}},
		{"no consent on first", func(in *Input) { in.Consent[tg] = false }, []channels.Kind{tg, sms},
			Decision{Send: true, Channel: sms, Address: "+79990001122", Rejected: []Rejection{{tg, ReasonNoConsent}}}},
		{"no consent anywhere", func(in *Input) { in.Consent = nil }, []channels.Kind{tg, sms},
			Decision{Reason: ReasonNoConsent, Rejected: []Rejection{{tg, ReasonNoConsent}, {sms, ReasonNoConsent}}}},
		{"no identity", func(in *Input) { delete(in.Identities, tg) }, []channels.Kind{tg},
			Decision{Reason: ReasonNoIdentity, Rejected: []Rejection{{tg, ReasonNoIdentity}}}},
		{"empty address is no identity", func(in *Input) { in.Identities[tg] = Identity{} }, []channels.Kind{tg},
			Decision{Reason: ReasonNoIdentity, Rejected: []Rejection{{tg, ReasonNoIdentity}}}},
		{"blocked", func(in *Input) { in.Identities[tg] = Identity{Address: "111", Blocked: true} }, []channels.Kind{tg},
			Decision{Reason: ReasonBlocked, Rejected: []Rejection{{tg, ReasonBlocked}}}},
		{"furthest reason wins", func(in *Input) {
			in.Identities[tg] = Identity{Address: "111", Blocked: true}
			in.Consent[sms] = false
		}, []channels.Kind{sms, tg},
			Decision{Reason: ReasonBlocked, Rejected: []Rejection{{sms, ReasonNoConsent}, {tg, ReasonBlocked}}}},
		{"blocked falls to next", func(in *Input) { in.Identities[tg] = Identity{Address: "111", Blocked: true} }, []channels.Kind{tg, sms},
			Decision{Send: true, Channel: sms, Address: "+79990001122", Rejected: []Rejection{{tg, ReasonBlocked}}}},
		{"whatsapp window open", nil, []channels.Kind{wa}, Decision{Send: true, Channel: wa, Address: "79990001122"}},
		{"whatsapp window closed", func(in *Input) {
			in.Identities[wa] = Identity{Address: "79990001122", LastInboundAt: ptr(now.Add(-25 * time.Hour))}
		}, []channels.Kind{wa}, Decision{Reason: ReasonWindowClosed, Rejected: []Rejection{{wa, ReasonWindowClosed}}}},
		{"whatsapp never wrote", func(in *Input) { in.Identities[wa] = Identity{Address: "79990001122"} }, []channels.Kind{wa, sms},
			Decision{Send: true, Channel: sms, Address: "+79990001122", Rejected: []Rejection{{wa, ReasonWindowClosed}}}},
		{"whatsapp closed but template", func(in *Input) {
			in.Identities[wa] = Identity{Address: "79990001122", LastInboundAt: ptr(now.Add(-25 * time.Hour))}
			in.OutsideWindowOK = map[channels.Kind]bool{wa: true}
		}, []channels.Kind{wa}, Decision{Send: true, Channel: wa, Address: "79990001122", OutsideWindow: true}},
		{"messenger exactly 24h is closed", nil, []channels.Kind{fb},
			Decision{Reason: ReasonWindowClosed, Rejected: []Rejection{{fb, ReasonWindowClosed}}}},
		{"messenger 23h59m is open", func(in *Input) {
			in.Identities[fb] = Identity{Address: "psid", LastInboundAt: ptr(now.Add(-24*time.Hour + time.Minute))}
		}, []channels.Kind{fb}, Decision{Send: true, Channel: fb, Address: "psid"}},
		{"messenger closed with tag", func(in *Input) { in.OutsideWindowOK = map[channels.Kind]bool{fb: true} }, []channels.Kind{fb},
			Decision{Send: true, Channel: fb, Address: "psid", OutsideWindow: true}},
		{"instagram 23h59m is open", func(in *Input) {
			in.Identities[ig] = Identity{Address: "igsid", LastInboundAt: ptr(now.Add(-24*time.Hour + time.Minute))}
			in.Consent[ig] = true
		}, []channels.Kind{ig}, Decision{Send: true, Channel: ig, Address: "igsid"}},
		{"instagram closed falls to the next channel", func(in *Input) {
			in.Identities[ig] = Identity{Address: "igsid", LastInboundAt: ptr(now.Add(-25 * time.Hour))}
			in.Consent[ig] = true
		}, []channels.Kind{ig, sms}, Decision{Send: true, Channel: sms, Address: "+79990001122", Rejected: []Rejection{{ig, ReasonWindowClosed}}}},
		{"telegram has no window", func(in *Input) {
			in.Identities[tg] = Identity{Address: "111", LastInboundAt: ptr(now.Add(-1000 * time.Hour))}
		}, []channels.Kind{tg},
			Decision{Send: true, Channel: tg, Address: "111"}},
		{"handoff pauses marketing", func(in *Input) { in.HandoffOpen = true }, []channels.Kind{tg},
			Decision{Channel: tg, Address: "111", Reason: ReasonHandoffOpen}},
		{"handoff lets service go", func(in *Input) { in.HandoffOpen = true; in.Topic = campaigns.TopicService }, []channels.Kind{tg},
			Decision{Send: true, Channel: tg, Address: "111"}},
		{"handoff: service told to wait", func(in *Input) {
			in.HandoffOpen, in.Topic, in.Settings.SendDuringHandoff = true, campaigns.TopicService, ptr(false)
		}, []channels.Kind{tg}, Decision{Channel: tg, Address: "111", Reason: ReasonHandoffOpen}},
		{"handoff: marketing told to go", func(in *Input) { in.HandoffOpen, in.Settings.SendDuringHandoff = true, ptr(true) }, []channels.Kind{tg},
			Decision{Send: true, Channel: tg, Address: "111"}},
		{"frequency cap reached", func(in *Input) {
			in.Settings.FrequencyCap = &campaigns.FrequencyCap{Max: 2, Per: campaigns.Duration(7 * 24 * time.Hour)}
			in.SentInCapWindow = 2
		}, []channels.Kind{tg}, Decision{Channel: tg, Address: "111", Reason: ReasonFrequencyCap}},
		{"frequency cap not reached", func(in *Input) {
			in.Settings.FrequencyCap = &campaigns.FrequencyCap{Max: 2, Per: campaigns.Duration(7 * 24 * time.Hour)}
			in.SentInCapWindow = 1
		}, []channels.Kind{tg}, Decision{Send: true, Channel: tg, Address: "111"}},
		{"quiet hours defer", func(in *Input) {
			in.Settings.QuietHours = &campaigns.QuietHours{Start: "13:00", End: "15:30"}
			in.Location = time.FixedZone("UTC+2", 2*3600) // 14:00 local
		}, []channels.Kind{tg}, Decision{Channel: tg, Address: "111", Reason: ReasonQuietHours, DeferUntil: time.Date(2026, 6, 10, 13, 30, 0, 0, time.UTC)}},
		{"quiet hours checked before cap", func(in *Input) {
			in.Settings.QuietHours = &campaigns.QuietHours{Start: "11:00", End: "13:00"}
			in.Settings.FrequencyCap = &campaigns.FrequencyCap{Max: 1, Per: campaigns.Duration(time.Hour)}
			in.SentInCapWindow = 5
		}, []channels.Kind{tg}, Decision{Channel: tg, Address: "111", Reason: ReasonQuietHours, DeferUntil: time.Date(2026, 6, 10, 13, 0, 0, 0, time.UTC)}},
		{"outside quiet hours", func(in *Input) { in.Settings.QuietHours = &campaigns.QuietHours{Start: "22:00", End: "09:00"} }, []channels.Kind{tg},
			Decision{Send: true, Channel: tg, Address: "111"}},
		{"invalid quiet hours", func(in *Input) { in.Settings.QuietHours = &campaigns.QuietHours{Start: "25:00", End: "09:00"} }, []channels.Kind{tg},
			Decision{Channel: tg, Address: "111", Reason: ReasonInvalid}},
		{"no candidates", nil, nil, Decision{Reason: ReasonNoChannel}},
		{"nil location is UTC", func(in *Input) {
			in.Location = nil
			in.Settings.QuietHours = &campaigns.QuietHours{Start: "12:00", End: "12:01"}
		}, []channels.Kind{tg}, Decision{Channel: tg, Address: "111", Reason: ReasonQuietHours, DeferUntil: time.Date(2026, 6, 10, 12, 1, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			if c.mod != nil {
				c.mod(&in)
			}
			got := Decide(in, c.candidates)
			if !equal(got, c.want) {
				t.Errorf("Decide =\n %+v\nwant\n %+v", got, c.want)
			}
		})
	}
}

func equal(a, b Decision) bool {
	if a.Send != b.Send || a.Channel != b.Channel || a.Address != b.Address || a.Reason != b.Reason ||
		a.OutsideWindow != b.OutsideWindow || !a.DeferUntil.Equal(b.DeferUntil) || len(a.Rejected) != len(b.Rejected) {
		return false
	}
	for i := range a.Rejected {
		if a.Rejected[i] != b.Rejected[i] {
			return false
		}
	}
	return true
}

func TestQuietUntil(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	night := campaigns.QuietHours{Start: "22:00", End: "09:00"}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name  string
		q     campaigns.QuietHours
		now   string
		loc   *time.Location
		quiet bool
		until string
	}{
		{"before start", night, "2026-06-10T21:59:00Z", time.UTC, false, ""},
		{"at start", night, "2026-06-10T22:00:00Z", time.UTC, true, "2026-06-11T09:00:00Z"},
		{"after midnight", night, "2026-06-11T03:00:00Z", time.UTC, true, "2026-06-11T09:00:00Z"},
		{"at end is not quiet", night, "2026-06-11T09:00:00Z", time.UTC, false, ""},
		{"zone matters", night, "2026-06-10T20:30:00Z", berlin, true, "2026-06-11T07:00:00Z"},
		// New York spring forward 2026-03-08 02:00 EST → 03:00 EDT: the night is 10h, not 11h.
		{"NY spring forward night", night, "2026-03-08T04:00:00Z", ny, true, "2026-03-08T13:00:00Z"},
		// New York fall back 2026-11-01 02:00 EDT → 01:00 EST: the night is 12h.
		{"NY fall back night", night, "2026-11-01T03:00:00Z", ny, true, "2026-11-01T14:00:00Z"},
		{"NY fall back ambiguous end, second 01:10", campaigns.QuietHours{Start: "22:00", End: "01:30"}, "2026-11-01T06:10:00Z", ny, true, "2026-11-01T06:30:00Z"},
		{"NY fall back ambiguous end, first 01:10", campaigns.QuietHours{Start: "22:00", End: "01:30"}, "2026-11-01T05:10:00Z", ny, true, "2026-11-01T05:30:00Z"},
		{"NY spring forward end in the gap", campaigns.QuietHours{Start: "22:00", End: "02:30"}, "2026-03-08T06:00:00Z", ny, true, "2026-03-08T07:00:00Z"},
		// Berlin spring forward 2026-03-29 02:00 CET → 03:00 CEST.
		{"Berlin spring forward night", night, "2026-03-28T22:00:00Z", berlin, true, "2026-03-29T07:00:00Z"},
		// Berlin fall back 2026-10-25 03:00 CEST → 02:00 CET.
		{"Berlin fall back night", night, "2026-10-24T21:00:00Z", berlin, true, "2026-10-25T08:00:00Z"},
		{"Berlin day after fall back", night, "2026-10-25T08:30:00Z", berlin, false, ""},
		{"same-day window", campaigns.QuietHours{Start: "13:00", End: "15:00"}, "2026-06-10T12:59:00Z", time.UTC, false, ""},
		{"equal start and end: none", campaigns.QuietHours{Start: "10:00", End: "10:00"}, "2026-06-10T10:00:00Z", time.UTC, false, ""},
		{"24:00 end is midnight", campaigns.QuietHours{Start: "20:00", End: "24:00"}, "2026-06-10T23:00:00Z", time.UTC, true, "2026-06-11T00:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := utc(c.now)
			until, quiet, err := QuietUntil(c.q, n, c.loc)
			if err != nil {
				t.Fatal(err)
			}
			if quiet != c.quiet {
				t.Fatalf("quiet = %v, want %v", quiet, c.quiet)
			}
			if !quiet {
				return
			}
			if !until.Equal(utc(c.until)) {
				t.Errorf("until = %s (%s local), want %s", until.UTC(), until.In(c.loc), c.until)
			}
			if !until.After(n) {
				t.Errorf("until %s is not after now %s", until, n)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{{"22:00", 1320, true}, {"9:05", 545, true}, {"00:00", 0, true}, {"24:00", 0, true}, {"23:59", 1439, true},
		{"24:01", 0, false}, {"12:60", 0, false}, {"12", 0, false}, {"-1:00", 0, false}, {"ab:cd", 0, false}, {"", 0, false}, {"123:00", 0, false}} {
		got, err := ParseClock(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseClock(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestCandidates(t *testing.T) {
	got := Candidates(campaigns.Settings{Channels: []string{"telegram", " SMS", "fax", "email"}})
	want := []channels.Kind{channels.Telegram, channels.SMS, channels.Email}
	if len(got) != len(want) {
		t.Fatalf("Candidates = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Candidates = %v, want %v", got, want)
		}
	}
}

func TestDecisionString(t *testing.T) {
	for _, c := range []struct {
		d    Decision
		want string
	}{
		{Decision{Send: true, Channel: channels.Telegram, Address: "secret"}, "send on telegram"},
		{Decision{Send: true, Channel: channels.WhatsApp, OutsideWindow: true}, "send on whatsapp outside the 24h window (template/tag)"},
		{Decision{Channel: channels.SMS, Reason: ReasonFrequencyCap}, "not sent on sms: frequency_cap"},
		{Decision{Reason: ReasonNoConsent, Rejected: []Rejection{{channels.Telegram, ReasonNoConsent}, {channels.SMS, ReasonNoConsent}}},
			"not sent: no_consent (passed over: telegram=no_consent sms=no_consent)"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("String = %q, want %q", got, c.want)
		}
	}
}

// A manager's reply on Instagram follows Messenger's rule: free inside 24h,
// HUMAN_AGENT up to 7 days, then nothing.
func TestForPersonInstagram(t *testing.T) {
	at := func(ago time.Duration) *time.Time { return ptr(now.Add(-ago)) }
	for _, c := range []struct {
		ago  time.Duration
		want PersonReply
	}{
		{time.Hour, PersonReply{Allowed: true}},
		{25 * time.Hour, PersonReply{Allowed: true, Tag: "HUMAN_AGENT"}},
		{7 * 24 * time.Hour, PersonReply{Allowed: true, Tag: "HUMAN_AGENT"}},
		{7*24*time.Hour + time.Minute, PersonReply{Reason: "more than 7 days since the customer's last message (HUMAN_AGENT limit)"}},
	} {
		if got := ForPerson(channels.Instagram, at(c.ago), now); got != c.want {
			t.Errorf("%s ago: %+v, want %+v", c.ago, got, c.want)
		}
	}
	if got := ForPerson(channels.Instagram, nil, now); got.Allowed {
		t.Errorf("never wrote: %+v", got)
	}
}

// TestEveryReasonIsExplained: a skipped message reads in words in the
// inbox, whatever the reason the gate gave.
func TestEveryReasonIsExplained(t *testing.T) {
	for _, r := range []string{ReasonNoConsent, ReasonNoIdentity, ReasonBlocked, ReasonQuietHours, ReasonFrequencyCap,
		ReasonHandoffOpen, ReasonWindowClosed, ReasonNoChannel, ReasonInvalid} {
		if Explain(r) == "" {
			t.Errorf("reason %q has no explanation", r)
		}
	}
	if Explain("something_new") != "" {
		t.Error("an unknown reason is explained")
	}
}
