package campaigns

import (
	"encoding/json"
	"reflect"
)

// SchemaID is the $id of the campaign JSON Schema.
const SchemaID = "https://github.com/nudge-engine/nudge/docs/campaign.schema.json"

// docs are the descriptions editors show on hover, by "Type.field".
var docs = map[string]string{
	"Definition.kind":              "campaign (the default); a saved segment says kind: segment.",
	"Audience.segment":             "A saved segment (the id of a kind: segment file) whose members the audience keeps; the other conditions narrow it.",
	"Audience.reachable":           "Subscribers with an identity not blocked on at least one of these channels.",
	"Audience.opt_in_source":       "Subscribers whose consent was granted by one of these sources on at least one channel.",
	"EventFilter.min_count":        "At least this many such events in the window (has_event of audiences and segments).",
	"EventFilter.last":             "Conditions on the payload of the newest such event in the window; attr is a path into the payload (has_event of audiences and segments).",
	"Segment":                      "A saved segment: a named audience campaigns name with audience.segment, counted live by nudge segment count.",
	"Segment.kind":                 "Always segment.",
	"Segment.id":                   "Stable segment id: lowercase letters, digits, - and _. Campaigns name it in audience.segment.",
	"Segment.name":                 "Human-readable name shown on the segments page.",
	"Segment.consent":              "Consent topic members hold on at least one of channels (default marketing).",
	"Segment.channels":             "Consent on at least one of these channels (default: any); the count splits members by the first they are reachable on.",
	"Segment.where":                "Conditions on subscriber attributes (and locale, time_zone, name, external_id).",
	"Segment.has_event":            "Subscribers who posted these events (within the window; at least min_count; the newest matching last).",
	"Segment.no_event":             "Subscribers who did not post these events (within the window).",
	"Segment.reachable":            "Subscribers with an identity not blocked on at least one of these channels.",
	"Segment.opt_in_source":        "Subscribers whose consent was granted by one of these sources (widget, jwt_link, dialog, import, api).",
	"Definition":                   "A Nudge campaign: who gets it (audience), when it starts (trigger), how it is sent (settings), what happens (steps) and what is said (templates).",
	"Definition.id":                "Stable campaign id: lowercase letters, digits, - and _. Versions are kept per id.",
	"Definition.name":              "Human-readable name shown in lists and the dashboard.",
	"Definition.topic":             "Consent topic: service (transactional, e.g. receipts) or marketing (needs marketing consent).",
	"Definition.audience":          "Which subscribers the campaign reaches; all conditions must hold.",
	"Definition.trigger":           "When runs start: exactly one of schedule, event, api.",
	"Definition.settings":          "Channels, fallback ladder, quiet hours, frequency cap, holdout.",
	"Definition.steps":             "The flow. A run starts at the first step; next defaults to the following step.",
	"Definition.attributes":        "Subscriber attributes the templates read, name → type (string, number, boolean, time, url, a mapping of fields, or a one-item list); lint renders every template against a sample of them.",
	"Definition.templates":         "Messages by name → channel (or default) → locale (ru, en) → variant.",
	"Definition.links":             "Link tracking: http(s) links in texts and buttons become signed short redirects on NUDGE_BASE_URL (/l/<code>) that count clicks and add UTM parameters.",
	"Links.track":                  "false sends links as written: no redirect, no click counted, no UTM parameters (default true).",
	"Links.utm":                    "UTM parameters the redirect adds (a parameter the link already has is kept); an omitted one keeps its default.",
	"Links.attribution":            "false leaves nudge_click=<code> off the redirect's target (default true: the shop stores it and asks GET /v1/clicks/{code}).",
	"Button.pay":                   "Makes the button a payment: an invoice paid in the chat on Telegram, a tracked link to url (the shop's payment page) on other channels.",
	"Pay.amount":                   "Price in the currency's major unit as written: \"990\" or \"990.00\"; no more decimals than the currency has.",
	"Pay.currency":                 "ISO 4217 currency code (RUB, USD, EUR, …) or XTR for Telegram Stars.",
	"Pay.product":                  "The product or subscription id paid for; it comes back on the subscription.renewed event.",
	"Pay.title":                    "Telegram invoice title, 1-32 characters.",
	"Pay.description":              "Telegram invoice description, 1-255 characters (default: the message text).",
	"Pay.valid_for":                "How long the invoice can be paid, e.g. 3d (default 7d); a later payment is refused.",
	"UTM.source":                   "utm_source (default nudge).",
	"UTM.medium":                   "utm_medium (default the message's channel).",
	"UTM.campaign":                 "utm_campaign (default the campaign id).",
	"UTM.content":                  "utm_content (default the step id).",
	"Audience.consent":             "Consent topic required on at least one channel (default: the campaign topic).",
	"Audience.where":               "Conditions on subscriber attributes (and locale, time_zone).",
	"Audience.has_event":           "Subscribers who posted these events (within the window).",
	"Audience.no_event":            "Subscribers who did not post these events (within the window).",
	"Condition.attr":               "Attribute name (or locale, time_zone).",
	"Condition.op":                 "Comparison operator.",
	"Condition.value":              "Value to compare with (a list for in / not_in; omitted for exists / not_exists).",
	"EventFilter.name":             "Event name, e.g. subscription.renewed.",
	"EventFilter.within":           "Window back from now, e.g. 7d; omitted = ever.",
	"Trigger.schedule":             "Start runs on a cron schedule.",
	"Trigger.event":                "Start a run after the subscriber posts an event.",
	"Trigger.api":                  "Start runs by POST /v1/campaigns/{id}/trigger (transactional sends). Write api: {}",
	"ScheduleTrigger.cron":         "5-field cron (minute hour day-of-month month day-of-week), e.g. \"0 18 * * FRI\", or @daily / @weekly / @hourly (no @every, no TZ= prefix: the zone goes in timezone).",
	"ScheduleTrigger.timezone":     "\"subscriber\" (each subscriber's own local time) or an IANA zone such as Europe/Moscow.",
	"EventTrigger.name":            "Event name, e.g. order.delivered.",
	"EventTrigger.delay":           "Wait this long after the event, e.g. 7d.",
	"EventTrigger.payload":         "Event payload fields the templates read (.Payload.<name>), name → type, as attributes.",
	"APITrigger.payload":           "Request payload fields the templates read (.Payload.<name>), name → type, as attributes.",
	"Settings.quiet_hours":         "No sends in this local-time window; sends are deferred to its end, never dropped.",
	"Settings.frequency_cap":       "At most max messages of this topic per period.",
	"Settings.channels":            "Channels in preference order; the first with consent and an identity is used.",
	"Settings.fallback":            "Fallback ladder: the next channel when a message is not delivered / read in time.",
	"Settings.accounts":            "The account (bot, page, number) to send through per channel, e.g. {telegram: brand-b}; default main.",
	"Settings.holdout_percent":     "Share of the audience (0–99) that gets nothing, to measure the goal's uplift.",
	"Settings.send_during_handoff": "Send while a manager conversation is open (default: service yes, marketing no).",
	"Settings.on_unknown":          "A message a crashed worker left in flight to a provider that does not deduplicate (Telegram, Viber, WhatsApp, Messenger, SMS, email): mark (default) records it unknown and sends nothing; resend sends it again, and the customer may get it twice.",
	"QuietHours.start":             "Local time the quiet hours start, e.g. \"22:00\".",
	"QuietHours.end":               "Local time the quiet hours end, e.g. \"09:00\".",
	"FrequencyCap.max":             "Maximum messages of this topic per period.",
	"FrequencyCap.per":             "Period, e.g. 7d.",
	"FallbackRung.channel":         "Channel to fall back to.",
	"FallbackRung.if_not":          "Fall back when the previous message is not delivered / read in time.",
	"FallbackRung.within":          "How long to wait for that status, e.g. 15m or 24h.",
	"Step.id":                      "Step id, unique in the campaign; goto / next / on_timeout refer to it.",
	"Step.next":                    "Step to go to after this one (default: the following step).",
	"Step.send":                    "Send a template.",
	"Step.wait":                    "Pause for a duration or until a local time.",
	"Step.wait_reply":              "Wait for the subscriber's reply and branch on it.",
	"Step.branch":                  "Go to the first case whose conditions hold.",
	"Step.split":                   "A/B test: send each subscriber down one of weighted variants, the same one every time within a campaign version.",
	"Step.handoff":                 "Hand the conversation to a manager queue; the run resumes when resolved.",
	"Step.set":                     "Set subscriber attributes.",
	"Step.goal":                    "Record a conversion when the event is posted within the window.",
	"Step.end":                     "End the run. Write end: {} (or end: with no value).",
	"SendStep.template":            "Name of a template under templates.",
	"WaitStep.for":                 "Duration, e.g. 2d.",
	"WaitStep.until":               "Local time, optionally with a weekday: \"18:00\" or \"fri 18:00\".",
	"WaitReplyStep.timeout":        "How long to wait for a reply, e.g. 48h.",
	"WaitReplyStep.branches":       "Checked in order; a button press decides before text.",
	"WaitReplyStep.on_timeout":     "Step when no reply comes in time (default: next).",
	"WaitReplyStep.on_other":       "Step for a reply no branch matched (default: hand-off to the inbox).",
	"WaitReplyStep.on_unsure":      "Step (or handoff) for a reply whose sentiment the classifier is unsure of, when no button or keyword branch took it (default: on_other).",
	"ReplyBranch.button":           "Button id pressed.",
	"ReplyBranch.keywords":         "Whole words, case-insensitive.",
	"ReplyBranch.sentiment":        "Classified sentiment of a text reply.",
	"ReplyBranch.goto":             "Step to go to.",
	"BranchStep.cases":             "Cases, first match wins.",
	"BranchStep.else":              "Step when no case matches (default: next).",
	"BranchCase.where":             "Attribute conditions (all must hold).",
	"BranchCase.has_event":         "Event conditions (all must hold).",
	"BranchCase.goto":              "Step to go to.",
	"SplitStep.variants":           "At least two variants; each subscriber takes one, with a chance of its weight over the sum of the weights.",
	"SplitVariant.id":              "Variant id, unique in the split, shown in the funnel per variant (e.g. discount).",
	"SplitVariant.weight":          "Positive share relative to the other variants, e.g. 50 and 50, or 90 and 10.",
	"SplitVariant.goto":            "Step the variant's runs go to.",
	"HandoffStep.queue":            "Manager queue, e.g. care.",
	"HandoffStep.note":             "Note shown to the manager.",
	"SetStep.attributes":           "Attributes to set on the subscriber.",
	"GoalStep.event":               "Conversion event, e.g. subscription.renewed.",
	"GoalStep.within":              "Window after reaching this step, e.g. 3d.",
	"Variant.text":                 "Message text: a Go text/template (.Subscriber, .Payload, .Now; date, time, plural, money, default, get).",
	"Variant.subject":              "Email subject.",
	"Variant.html":                 "Email HTML part.",
	"Variant.image":                "Image URL (a photo with the text as caption).",
	"Variant.images":               "Album of image URLs (2-10): an album or carousel where the channel has one, else the first image and links.",
	"Variant.document":             "A file sent with the message, e.g. a PDF receipt; a link where the channel sends no files.",
	"Document.url":                 "Public URL of the file (a text/template).",
	"Document.name":                "File name the customer sees (default: the URL's last path element).",
	"Variant.buttons":              "Reply buttons (id) or link buttons (url).",
	"Variant.whatsapp_template":    "Approved WhatsApp template used outside the 24h window.",
	"Variant.tag":                  "Messenger message tag used outside the 24h window (Instagram allows none for campaigns: HUMAN_AGENT is for a person's replies).",
	"Button.id":                    "Reply payload matched by wait_reply branches (Telegram: ≤64 bytes).",
	"Button.text":                  "Button label (WhatsApp: ≤20 characters).",
	"Button.url":                   "Link to open.",
	"WhatsAppTemplate.name":        "Template name as approved by WhatsApp.",
	"WhatsAppTemplate.language":    "Template language code, e.g. ru or en.",
	"WhatsAppTemplate.params":      "Body parameters, each a text/template.",
	"WhatsAppTemplate.carousel":    "The template is a media card carousel: the variant's images fill its cards' image headers, one each, in order.",
	"WhatsAppTemplate.cards":       "A carousel's cards in order, each with the parameters of its body.",
	"TemplateCard.params":          "The card's body parameters, each a text/template.",
}

// enums restrict string fields, by "Type.field" (a list field restricts its items).
var enums = map[string][]string{
	"Definition.topic":       {"service", "marketing"},
	"Audience.consent":       {"service", "marketing"},
	"Condition.op":           opNames(),
	"ReplyBranch.sentiment":  sentiments,
	"FallbackRung.if_not":    {"delivered", "read"},
	"FallbackRung.channel":   channelNames(),
	"Settings.channels":      channelNames(),
	"Settings.on_unknown":    {OnUnknownMark, OnUnknownResend},
	"Definition.kind":        {KindCampaign},
	"Segment.kind":           {KindSegment},
	"Segment.consent":        {"service", "marketing"},
	"Segment.channels":       channelNames(),
	"Segment.reachable":      channelNames(),
	"Segment.opt_in_source":  sourceNames(),
	"Audience.reachable":     channelNames(),
	"Audience.opt_in_source": sourceNames(),
}

var patterns = map[string]string{
	"Definition.id":    idRe.String(),
	"Segment.id":       idRe.String(),
	"Audience.segment": idRe.String(),
	"SplitVariant.id":  idRe.String(),
	"QuietHours.start": hhmm.String(),
	"QuietHours.end":   hhmm.String(),
	"WaitStep.until":   `^((?i:mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday) +)?([01]?[0-9]|2[0-3]):[0-5][0-9]$`,
}

var actionFields = []string{"send", "wait", "wait_reply", "branch", "split", "handoff", "set", "goal", "end"}

// Schema returns the JSON Schema (draft 2020-12) of the campaign format,
// generated from the Definition and Segment types so it cannot drift from
// the loader: a document with kind: segment is a Segment, any other a
// campaign Definition.
func Schema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeOf(Definition{}))
	g.defs["Segment"] = g.structSchema(reflect.TypeOf(Segment{}))
	root = map[string]any{
		"description": "A Nudge campaign, or with kind: segment a saved segment.",
		"if":          map[string]any{"type": "object", "required": []string{"kind"}, "properties": map[string]any{"kind": map[string]any{"const": KindSegment}}},
		"then":        map[string]any{"$ref": "#/$defs/Segment"},
		"else":        root,
	}
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Nudge campaign"
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only maps, strings and slices: cannot fail
	}
	return append(b, '\n')
}

type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) typeSchema(t reflect.Type, key string) map[string]any {
	if t == durationType {
		return map[string]any{"type": "string", "pattern": `^([0-9]+[smhdw])+$`}
	}
	if t == anyType {
		return map[string]any{}
	}
	if t == reflect.TypeOf(Fields{}) {
		if _, ok := g.defs["FieldType"]; !ok {
			ref := map[string]any{"$ref": "#/$defs/FieldType"}
			g.defs["FieldType"] = map[string]any{
				"description": "A field type: a name, a mapping of named fields, or a one-item list of the items' type.",
				"anyOf": []any{
					map[string]any{"type": "string", "enum": fieldTypeNames()},
					map[string]any{"type": "object", "minProperties": 1, "additionalProperties": ref},
					map[string]any{"type": "array", "minItems": 1, "maxItems": 1, "items": ref},
				},
			}
		}
		return map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/$defs/FieldType"}}
	}
	if t == reflect.TypeOf(Template{}) {
		names := append(channelNames(), DefaultVariant)
		variant := g.typeSchema(reflect.TypeOf(Variant{}), "")
		return map[string]any{
			"type":          "object",
			"propertyNames": map[string]any{"enum": names},
			"additionalProperties": map[string]any{
				"type":                 "object",
				"minProperties":        1,
				"propertyNames":        map[string]any{"pattern": `^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`},
				"additionalProperties": variant,
			},
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem(), key)
	case reflect.String:
		s := map[string]any{"type": "string"}
		if e, ok := enums[key]; ok {
			s["enum"] = e
		}
		if p, ok := patterns[key]; ok {
			s["pattern"] = p
		}
		return s
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		if key == "SplitVariant.weight" {
			return map[string]any{"type": "number", "exclusiveMinimum": 0}
		}
		return map[string]any{"type": "number"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		items := g.typeSchema(t.Elem(), "")
		if e, ok := enums[key]; ok {
			items["enum"] = e
		}
		return map[string]any{"type": "array", "items": items}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), "")}
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		ref := map[string]any{"$ref": "#/$defs/" + name}
		if t.NumField() == 0 || t == reflect.TypeOf(APITrigger{}) {
			// end: and api: may be written with no value.
			return map[string]any{"anyOf": []any{ref, map[string]any{"type": "null"}}}
		}
		return ref
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range fieldsOf(t) {
		key := t.Name() + "." + f.name
		s := g.typeSchema(t.Field(f.index).Type, key)
		if d, ok := docs[key]; ok {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"$ref": s["$ref"], "description": d}
			} else {
				s["description"] = d
			}
		}
		props[f.name] = s
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if d, ok := docs[t.Name()]; ok {
		s["description"] = d
	}
	if r := required[t]; len(r) > 0 {
		s["required"] = r
	}
	switch t {
	case reflect.TypeOf(Trigger{}):
		s["minProperties"], s["maxProperties"] = 1, 1
	case reflect.TypeOf(Step{}):
		var one []any
		for _, a := range actionFields {
			one = append(one, map[string]any{"required": []string{a}})
		}
		s["oneOf"] = one
	case reflect.TypeOf(Button{}):
		s["oneOf"] = []any{map[string]any{"required": []string{"id"}}, map[string]any{"required": []string{"url"}}}
	case reflect.TypeOf(SplitStep{}):
		s["properties"].(map[string]any)["variants"].(map[string]any)["minItems"] = 2
	case reflect.TypeOf(WaitStep{}):
		s["oneOf"] = []any{map[string]any{"required": []string{"for"}}, map[string]any{"required": []string{"until"}}}
	}
	return s
}

// SchemaFields lists every "Type.field" of the format (used by tests to
// keep docs complete).
func SchemaFields() []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t == durationType {
			return
		}
		seen[t] = true
		for _, f := range fieldsOf(t) {
			out = append(out, t.Name()+"."+f.name)
			walk(t.Field(f.index).Type)
		}
	}
	walk(reflect.TypeOf(Definition{}))
	walk(reflect.TypeOf(Segment{}))
	return out
}
