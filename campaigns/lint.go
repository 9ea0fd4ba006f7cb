package campaigns

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// Rules lists every lint rule id with a one-line description (docs and
// `nudge campaign lint --rules` print it).
var Rules = []struct{ ID, Doc string }{
	{"yaml-syntax", "the file is not valid YAML (or holds more than one document)"},
	{"unknown-field", "a key the format does not know; the hint names the closest known one"},
	{"duplicate-key", "the same key twice in one mapping"},
	{"required-field", "a required key is missing"},
	{"invalid-value", "a value of the wrong type or outside its allowed set"},
	{"duplicate-id", "two steps with one id, or two files with one campaign id"},
	{"unused-setting", "warning: links.utm or links.attribution while links.track is false, so links are sent as written"},
	{"keyword-overlap", "warning: keyword branches of opposite meaning share a word (\"понравилось\" and \"не понравилось\"); the reply's whole meaning decides"},
	{"unknown-step", "next, goto (of a reply branch, a branch case or a split variant), else, on_timeout or on_other names a step that does not exist"},
	{"unreachable-step", "no path from the first step leads to this step"},
	{"cycle-without-wait", "a loop of steps with no wait, wait_reply, goal or handoff would spin forever"},
	{"unknown-button", "a wait_reply branch matches a button id that the send before it does not offer"},
	{"missing-template", "a send names a template that is not defined"},
	{"missing-variant", "a template has no variant for a channel of settings.channels or fallback, and no default"},
	{"missing-locale", "a template variant lacks a locale other templates of the campaign have (or has neither ru nor en)"},
	{"invalid-cron", "the schedule is not a 5-field cron expression or @descriptor (@every and TZ= prefixes are refused)"},
	{"invalid-duration", "a duration is not like 15m, 48h, 7d, or is zero where it must not be"},
	{"invalid-timezone", "a time zone is neither \"subscriber\" nor an IANA zone name"},
	{"invalid-time", "a local time is not HH:MM (quiet hours; wait until, optionally with a weekday)"},
	{"marketing-without-consent", "a marketing campaign whose audience only requires service consent"},
	{"whatsapp-template", "a whatsapp_template is not in the synced catalogue, lacks the language, takes another parameter count, is not APPROVED, or is MARKETING in a service campaign (a warning when no catalogue could be read)"},
	{"window-needs-template", "a send that can reach WhatsApp/Messenger outside the 24h window has no whatsapp_template/tag (Instagram: a warning, no tag allows it)"},
	{"button-limits", "buttons exceed a channel's limits (Telegram callback_data 64 bytes, WhatsApp 3 reply buttons of 20 characters, no links in WhatsApp reply buttons, …)"},
	{"unknown-account", "settings.accounts names an account the install does not configure for that channel (checked where the configured accounts are known: the server, or lint with NUDGE_<CHANNEL>_ACCOUNTS set)"},
	{"pay", "a pay button is wrong: currency not ISO 4217 (or XTR), amount not positive or with too many decimals, no product, a Telegram invoice title/description too long, no url for channels without in-chat payments, more than one per message"},
	{"channel-limits", "a text exceeds a channel's limit (Telegram 4096 / caption 1024, SMS segments, …)"},
	{"media-limits", "images or a document exceed a channel's limits (album sizes, Telegram documents by URL only as PDF/ZIP/GIF, URLs not absolute)"},
	{"template-syntax", "a text is not a valid template (unknown function, unclosed action, bad Telegram HTML, an unclosed tag in email HTML)"},
	{"template-render", "a variant fails to render against a sample subscriber, the declared attributes and the trigger's declared payload (a misspelt field, an undeclared key, a value of the wrong type)"},
	{"trigger-one-of", "trigger must set exactly one of schedule, event, api"},
	{"step-one-action", "a step must set exactly one action (send, wait, wait_reply, branch, split, handoff, set, goal, end)"},
}

// Linter runs the lint rules. CheckVariant, when set, adds the per-channel
// template rules (template-syntax, button-limits, channel-limits); the CLI,
// the API and Store.Apply use campaigns/channelcheck.Linter, which sets it to
// templates.CheckVariant.
type Linter struct {
	CheckVariant VariantCheck
	// CheckRender, when set, renders every template variant against the
	// campaign's Sample (rule template-render); channelcheck sets it to
	// templates.CheckRender.
	CheckRender RenderCheck
	// CheckReplies, when set, looks at a wait_reply step's branches as the
	// reply classifier will read them (rule keyword-overlap, a warning);
	// channelcheck sets it to classify's check.
	CheckReplies ReplyCheck
	// WhatsApp, when set, checks every whatsapp_template against the synced
	// catalogue (rule whatsapp-template); an Unavailable catalogue makes each
	// reference a warning that it could not be checked.
	WhatsApp *WhatsAppCatalogue
	// LoadWhatsApp, when set and WhatsApp is not, reads the catalogue at
	// each Lint (a long-lived store's linter sees every sync); nil from it
	// means no check.
	LoadWhatsApp func() *WhatsAppCatalogue
	// Accounts are the configured accounts per channel, where known: a
	// channel present here has exactly these (rule unknown-account); a
	// channel absent is not checked.
	Accounts map[string][]string
}

// ReplyCheck reports problems of a wait_reply step's branches; each Path is
// relative to the step's wait_reply (e.g. "branches[1].keywords[0]").
type ReplyCheck func(w *WaitReplyStep) []VariantProblem

// Lint checks the format and the flow of files (without the per-channel
// template rules: see Linter) and returns every problem.
func Lint(files []*File) []LintError { return (&Linter{}).Lint(files) }

// Lint checks files and returns every problem, sorted by file and position.
func (lt *Linter) Lint(files []*File) []LintError {
	var out []LintError
	wa := lt.WhatsApp
	if wa == nil && lt.LoadWhatsApp != nil {
		wa = lt.LoadWhatsApp()
	}
	ids, segs := map[string]*File{}, map[string]*File{}
	for _, f := range files {
		if f == nil {
			continue
		}
		l := &linter{f: f, def: f.Def, check: lt.CheckVariant, render: lt.CheckRender, replies: lt.CheckReplies, catalogue: wa, accounts: lt.Accounts, decodedAt: map[Pos]bool{}}
		l.errs = append(l.errs, f.Problems...)
		for _, e := range f.Problems {
			l.decodedAt[Pos{e.Line, e.Col}] = true
		}
		if f.Segment != nil && !hasRule(f.Problems, "yaml-syntax") {
			l.segment()
			l.unique(segs, "segment", f.Segment.ID)
		} else if f.Def != nil && !hasRule(f.Problems, "yaml-syntax") {
			l.run()
			l.unique(ids, "campaign", f.Def.ID)
		}
		errs := dedupe(l.errs)
		sort.SliceStable(errs, func(i, j int) bool {
			if errs[i].Line != errs[j].Line {
				return errs[i].Line < errs[j].Line
			}
			return errs[i].Col < errs[j].Col
		})
		out = append(out, errs...)
	}
	return out
}

func hasRule(errs []LintError, rule string) bool {
	for _, e := range errs {
		if e.Rule == rule {
			return true
		}
	}
	return false
}

func dedupe(errs []LintError) []LintError {
	seen := map[LintError]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

type linter struct {
	f    *File
	def  *Definition
	errs []LintError
	// index of each step id (first occurrence)
	steps map[string]int
	// windowOpen[i]: the 24h messaging window is surely open at step i.
	windowOpen []bool
	edges      [][]Edge // ways out of each step, computed once
	decodedAt  map[Pos]bool
	check      VariantCheck
	render     RenderCheck
	replies    ReplyCheck
	catalogue  *WhatsAppCatalogue
	accounts   map[string][]string
}

// unique keeps the file's id of kind (campaign, segment) in seen, or
// reports it as a duplicate of the file that has it already.
func (l *linter) unique(seen map[string]*File, kind, id string) {
	if id == "" {
		return
	}
	if first, dup := seen[id]; dup {
		l.add("id", "duplicate-id", kind+" ids must be unique across files", "%s id %q is also used in %s", kind, id, first.Path)
		return
	}
	seen[id] = l.f
}

func (l *linter) add(path, rule, hint, format string, args ...any) {
	l.report(l.f.At(path), rule, hint, fmt.Sprintf(format, args...))
}

func (l *linter) addKey(path, rule, hint, format string, args ...any) {
	l.report(l.f.KeyAt(path), rule, hint, fmt.Sprintf(format, args...))
}

// report adds a problem unless the loader already reported one at that
// position (a value that did not decode is not checked again) or this rule
// already fired there.
func (l *linter) report(p Pos, rule, hint, msg string) { l.reportAs(p, rule, hint, msg, "") }

// warn adds a warning: reported like a problem, but it does not refuse the file.
func (l *linter) warn(path, rule, hint, msg string) {
	l.reportAs(l.f.At(path), rule, hint, msg, SeverityWarning)
}

func (l *linter) reportAs(p Pos, rule, hint, msg, severity string) {
	for _, e := range l.errs {
		if e.Line == p.Line && e.Col == p.Col && (e.Rule == rule || l.decodedAt[p]) {
			return
		}
	}
	l.errs = append(l.errs, LintError{File: l.f.Path, Line: p.Line, Col: p.Col, Rule: rule, Msg: msg, Hint: hint, Severity: severity})
}

func (l *linter) run() {
	d := l.def
	if l.f.Has("kind") && d.Kind != KindCampaign {
		l.add("kind", "invalid-value", "kind is campaign (the default) or segment", "unknown kind %q", d.Kind)
	}
	if l.f.Has("id") && !idRe.MatchString(d.ID) {
		l.add("id", "invalid-value", "use lowercase letters, digits, - and _, e.g. weekly-feedback", "id %q is not a valid campaign id", d.ID)
	}
	if l.f.Has("topic") && d.Topic != TopicService && d.Topic != TopicMarketing {
		l.add("topic", "invalid-value", suggestHint(string(d.Topic), []string{"service", "marketing"}), "topic must be service or marketing, got %q", d.Topic)
	}
	l.declarations()
	l.audience()
	l.trigger()
	l.settings()
	l.settingsAccounts()
	l.links()
	l.stepsGraph()
	l.templates()
	l.whatsappCatalogue()
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func suggestHint(s string, opts []string) string {
	if x := suggest(s, opts); x != "" {
		return fmt.Sprintf("did you mean %q?", x)
	}
	return "one of: " + strings.Join(opts, ", ")
}

func (l *linter) conditions(path string, cs []Condition) {
	for i, c := range cs {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch err := c.Validate(); {
		case err == nil:
		case l.f.Has(p+".op") && !c.Op.Valid():
			l.add(p+".op", "invalid-value", suggestHint(string(c.Op), opNames()), "unknown operator %q", c.Op)
		case c.Value == nil && c.Op != OpExists && c.Op != OpNotExists:
			l.add(p, "required-field", "", "%s: operator %s needs a value", p, c.Op)
		case l.f.Has(p + ".value"):
			l.add(p+".value", "invalid-value", "", "%v", err)
		default:
			l.add(p, "invalid-value", "", "%v", err)
		}
	}
}

func (l *linter) eventFilters(path string, fs []EventFilter) {
	for i, e := range fs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if l.f.Has(p+".name") && e.Name == "" {
			l.add(p+".name", "invalid-value", "", "event name is empty")
		}
		if e.MinCount < 0 {
			l.add(p+".min_count", "invalid-value", "", "min_count must be at least 1")
		}
		l.conditions(p+".last", e.Last)
	}
}

func (l *linter) audience() {
	a := l.def.Audience
	if l.f.Has("audience.consent") && a.Consent != TopicService && a.Consent != TopicMarketing {
		l.add("audience.consent", "invalid-value", suggestHint(string(a.Consent), []string{"service", "marketing"}), "consent must be service or marketing, got %q", a.Consent)
	}
	if l.def.Topic == TopicMarketing && a.Consent == TopicService {
		l.add("audience.consent", "marketing-without-consent", "marketing messages need marketing consent: remove audience.consent or set it to marketing",
			"topic is marketing but the audience only requires service consent")
	}
	l.conditions("audience.where", a.Where)
	l.eventFilters("audience.has_event", a.HasEvent)
	l.eventFilters("audience.no_event", a.NoEvent)
	if l.f.Has("audience.segment") && !idRe.MatchString(a.Segment) {
		l.add("audience.segment", "invalid-value", "the id of a kind: segment file, e.g. weekly-eaters", "segment %q is not a valid segment id", a.Segment)
	}
	l.channelList("audience.reachable", a.Reachable)
	for i, src := range a.OptInSource {
		if !consent.Source(src).Valid() {
			l.add(fmt.Sprintf("audience.opt_in_source[%d]", i), "invalid-value", suggestHint(src, sourceNames()), "unknown opt-in source %q", src)
		}
	}
	for i, e := range a.NoEvent {
		if e.MinCount > 0 || len(e.Last) > 0 {
			l.add(fmt.Sprintf("audience.no_event[%d]", i), "invalid-value", "use has_event for a count or a last value", "no_event takes no min_count or last")
		}
	}
}

func (l *linter) trigger() {
	t := l.def.Trigger
	if !l.f.Has("trigger") {
		return
	}
	n := 0
	for _, set := range []bool{t.Schedule != nil, t.Event != nil, t.API != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		l.addKey("trigger", "trigger-one-of", "e.g. trigger: {event: {name: order.delivered, delay: 7d}}", "trigger must set exactly one of schedule, event, api (has %d)", n)
	}
	if s := t.Schedule; s != nil {
		if l.f.Has("trigger.schedule.cron") {
			if _, err := ParseCron(s.Cron); err != nil {
				l.add("trigger.schedule.cron", "invalid-cron", "5 fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\", or @daily; the zone goes in timezone", "%v", err)
			}
		}
		if l.f.Has("trigger.schedule.timezone") {
			if err := checkZone(s.Timezone); err != nil {
				l.add("trigger.schedule.timezone", "invalid-timezone", "use \"subscriber\" (each subscriber's own zone) or an IANA name such as Europe/Moscow", "%v", err)
			}
		}
	}
	if e := t.Event; e != nil && l.f.Has("trigger.event.name") && e.Name == "" {
		l.add("trigger.event.name", "invalid-value", "", "event name is empty")
	}
}

func checkZone(z string) error {
	if z == "subscriber" {
		return nil
	}
	if z == "" || z == "Local" || strings.ContainsAny(z, " \\") || strings.Contains(z, "..") {
		return fmt.Errorf("invalid time zone %q", z)
	}
	if _, err := time.LoadLocation(z); err != nil {
		return fmt.Errorf("unknown time zone %q", z)
	}
	return nil
}

var hhmm = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)

// ParseClock parses "HH:MM" into minutes after midnight.
func ParseClock(s string) (int, error) {
	m := hhmm.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a time of day like 09:00 or 22:30", s)
	}
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	return h*60 + mm, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseUntil parses a wait step's until: "18:00" or "fri 18:00". hasDay is
// false when no weekday was given.
func ParseUntil(s string) (day time.Weekday, hasDay bool, minutes int, err error) {
	fields := strings.Fields(s)
	switch len(fields) {
	case 1:
		minutes, err = ParseClock(fields[0])
		return 0, false, minutes, err
	case 2:
		wd, ok := weekdays[strings.ToLower(fields[0])]
		if !ok {
			return 0, false, 0, fmt.Errorf("%q is not a weekday (mon, tue, wed, thu, fri, sat, sun)", fields[0])
		}
		minutes, err = ParseClock(fields[1])
		return wd, true, minutes, err
	}
	return 0, false, 0, fmt.Errorf("%q is not a time like 18:00 or fri 18:00", s)
}

func (l *linter) settings() {
	s := l.def.Settings
	if q := s.QuietHours; q != nil {
		var a, b int
		var errA, errB error
		if l.f.Has("settings.quiet_hours.start") {
			if a, errA = ParseClock(q.Start); errA != nil {
				l.add("settings.quiet_hours.start", "invalid-time", "", "quiet_hours.start: %v", errA)
			}
		}
		if l.f.Has("settings.quiet_hours.end") {
			if b, errB = ParseClock(q.End); errB != nil {
				l.add("settings.quiet_hours.end", "invalid-time", "", "quiet_hours.end: %v", errB)
			}
		}
		if errA == nil && errB == nil && l.f.Has("settings.quiet_hours.start") && l.f.Has("settings.quiet_hours.end") && a == b {
			l.add("settings.quiet_hours.end", "invalid-time", "quiet hours run from start to end in the subscriber's local time, e.g. 22:00 to 09:00", "quiet_hours start and end are equal")
		}
	}
	if c := s.FrequencyCap; c != nil {
		if l.f.Has("settings.frequency_cap.max") && c.Max < 1 {
			l.add("settings.frequency_cap.max", "invalid-value", "", "frequency_cap.max must be at least 1")
		}
		if l.f.Has("settings.frequency_cap.per") && c.Per <= 0 {
			l.add("settings.frequency_cap.per", "invalid-duration", "", "frequency_cap.per must be longer than zero")
		}
	}
	names := channelNames()
	seen := map[string]bool{}
	for i, ch := range s.Channels {
		p := fmt.Sprintf("settings.channels[%d]", i)
		if !channels.Kind(ch).Valid() {
			l.add(p, "invalid-value", suggestHint(ch, names), "unknown channel %q", ch)
		} else if seen[ch] {
			l.add(p, "invalid-value", "", "channel %q listed twice", ch)
		}
		seen[ch] = true
	}
	if l.f.Has("settings.channels") && len(s.Channels) == 0 {
		l.add("settings.channels", "invalid-value", "e.g. channels: [telegram, viber, whatsapp]", "settings.channels is empty")
	}
	for i, r := range s.Fallback {
		p := fmt.Sprintf("settings.fallback[%d]", i)
		if l.f.Has(p+".channel") && !channels.Kind(r.Channel).Valid() {
			l.add(p+".channel", "invalid-value", suggestHint(r.Channel, names), "unknown channel %q", r.Channel)
		}
		if l.f.Has(p+".if_not") && r.IfNot != "delivered" && r.IfNot != "read" {
			l.add(p+".if_not", "invalid-value", suggestHint(r.IfNot, []string{"delivered", "read"}), "if_not must be delivered or read, got %q", r.IfNot)
		}
		if l.f.Has(p+".within") && r.Within <= 0 {
			l.add(p+".within", "invalid-duration", "", "fallback within must be longer than zero")
		}
	}
	if l.f.Has("settings.on_unknown") && s.OnUnknown != OnUnknownMark && s.OnUnknown != OnUnknownResend {
		l.add("settings.on_unknown", "invalid-value", suggestHint(s.OnUnknown, []string{OnUnknownMark, OnUnknownResend}),
			"on_unknown must be mark or resend, got %q", s.OnUnknown)
	}
	if l.f.Has("settings.holdout_percent") && (s.HoldoutPercent < 0 || s.HoldoutPercent >= 100) {
		l.add("settings.holdout_percent", "invalid-value", "a share of the audience that gets nothing, e.g. 10", "holdout_percent must be at least 0 and below 100")
	}
}

// links checks the link tracking settings: UTM values are query values
// without spaces, and settings that only tracked links use are flagged when
// tracking is off.
func (l *linter) links() {
	lk := l.def.Links
	if lk == nil {
		return
	}
	for _, f := range []struct{ key, v string }{{"source", lk.UTM.Source}, {"medium", lk.UTM.Medium},
		{"campaign", lk.UTM.Campaign}, {"content", lk.UTM.Content}} {
		p := "links.utm." + f.key
		if l.f.Has(p) && (strings.TrimSpace(f.v) == "" || strings.ContainsAny(f.v, " \t\r\n")) {
			l.add(p, "invalid-value", "a short token such as telegram_bot or spring_sale", "utm %s must be a value without spaces, got %q", f.key, f.v)
		}
	}
	if !l.def.TrackLinks() {
		for _, p := range []string{"links.utm", "links.attribution"} {
			if l.f.Has(p) {
				l.warn(p, "unused-setting", "remove it, or drop track: false", p+" has no effect: links.track is false, so links are sent as written")
			}
		}
	}
}

func channelNames() []string {
	out := make([]string, 0, len(channels.Kinds))
	for _, k := range channels.Kinds {
		out = append(out, string(k))
	}
	return out
}

// AllChannels returns the channels a campaign may send on: settings.channels
// then the fallback rungs, without repeats.
func (d *Definition) AllChannels() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range d.Settings.Channels {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, r := range d.Settings.Fallback {
		if !seen[r.Channel] {
			seen[r.Channel] = true
			out = append(out, r.Channel)
		}
	}
	return out
}
