// Package whatsapp is the WhatsApp Cloud API adapter: a hand-rolled Graph
// client (one POST /{phone-number-id}/messages) that sends text, interactive
// reply buttons, captioned images and approved templates (the only thing
// allowed outside the 24-hour customer service window), and a webhook that
// answers Meta's hub.challenge handshake, verifies X-Hub-Signature-256 before
// reading anything, and turns messages and statuses into channels.Events.
//
// Client.Templates lists the business account's message templates (GET
// /{waba-id}/message_templates, every page) with the parameter counts a send
// must fill in; package catalogue keeps them in Postgres for lint.
//
// Message.Correlation travels as biz_opaque_callback_data and comes back on
// every status of that message. Errors arrive synchronously (Graph error
// JSON) or asynchronously (statuses[].errors of a failed status), sometimes
// both; both are classified by the same table (Classify).
//
// The fake in whatsappfake speaks the same wire protocol for tests, the demo
// and benchmarks.
//
// Documents (rich.go) ride in the text's message: a document message with
// the text as caption, or the header of the interactive message. Albums go
// image by image inside the 24h window, each message a part a retry resumes
// at; outside it a media card carousel template takes the images as cards.
package whatsapp
