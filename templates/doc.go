// Package templates renders campaign messages: it picks the variant of a
// template for a channel and a subscriber locale, executes it as a Go
// text/template with a small safe function set, escapes subscriber data for
// the channel's output format and checks the channel's limits.
//
// Variant lookup. A campaigns.Template maps channel ("telegram", …, or
// "default") → locale ("ru", "en") → Variant. For channel ch and subscriber
// locale L (e.g. "ru-RU"), the first of these that exists is used:
//
//	ch/L, default/L, ch/base(L), default/base(L),
//	ch/en, ch/ru, default/en, default/ru,
//	ch/<first locale in sorted order>, default/<first locale in sorted order>
//
// The subscriber's language matters more than a channel-specific variant:
// a Russian subscriber on WhatsApp gets default/ru rather than whatsapp/en.
// CheckTemplate (for lint) uses the same lookup, so it checks exactly the
// variants that can be chosen. docs/templates.md is the author's guide.
//
// Functions. Templates see only the Data value (.Subscriber, .Payload, .Now,
// .CampaignID) and these functions, besides text/template's builtins:
//
//	date, time, datetime  format a time (time.Time, RFC 3339 / "2006-01-02"
//	                      string or Unix seconds) in the subscriber's zone;
//	                      Russian month and weekday names for ru variants;
//	                      optional style "short" or "weekday" for date
//	plural N one few many Russian forms (3 words) or English forms (2 words)
//	money AMOUNT CURRENCY ru "1 234,50 ₽", en "₽1,234.50", "$12.50"
//	upper, lower, title   case mapping (Unicode aware)
//	default DEF V         V unless it is empty, else DEF
//	get MAP KEY           MAP[KEY] or nothing: the way to read an optional key
//
// A missing map key is an execution error (missingkey=error): write
// {{default "друг" (get .Payload "name")}} for optional values. Template
// invocation ({{template}}, {{block}}) is not allowed (no recursion), nor is
// ranging over a number literal; output is capped at 64 KiB per part. Errors
// are *Error values naming the template, channel variant and locale.
//
// Escaping. Telegram text uses HTML parse mode: the author's literal markup
// (<b>, <i>, <a href="…">) is kept, and the output of every {{action}} is
// HTML-escaped. This is done by rewriting the parse tree, appending an escape
// command to each printing pipeline (as html/template does), rather than
// escaping the data beforehand, so that functions such as upper, printf or
// title operate on the raw value and can never split or alter an entity.
// Email renders Text as the plain part and HTML with html/template's
// contextual escaping. SMS, Viber, WhatsApp, Messenger and VK are plain text:
// values are inserted unchanged. Button texts, URLs and WhatsApp template
// parameters are plain on every channel (they travel as JSON, not markup).
//
// Limits. CheckVariant reports what can be known from the source (for lint);
// Render checks the rendered result and fails with an *Error whose Rule names
// the limit. SMS segments are counted for GSM-7 (160 / 153 septets, extension
// characters count 2) or UCS-2 (70 / 67 code units) and reported in
// Rendered.Segments; more than the configured maximum (default 6) is an error.
package templates
