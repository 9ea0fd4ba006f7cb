// Package fakes runs every provider fake of the repository in one process:
// the Telegram Bot API, Viber, WhatsApp Cloud, Messenger, Instagram, VK, Twilio SMS and
// an SMTP server, each on its own loopback listener and speaking its
// provider's wire protocol. Env lists the NUDGE_* variables that point
// `nudge` at them; Handler is a small JSON control API that plays the
// customers (a /start with an opt-in code, a text, a button press), sets what
// happens to messages sent to one of them (delivered, never delivered,
// undelivered, blocked) and lists what each fake received. Its /chat pages
// show each customer's conversation as their messenger would, with buttons
// and a reply box that post to the same control calls: every customer
// action, from a test, the demo's simulation or a person on the page, goes
// through Set.Do. The API plays any customer unauthenticated, so it listens
// on loopback unless told otherwise, and its POSTs need a JSON content type
// (a cross-site form cannot send one), and it answers only requests addressed
// to an IP address or localhost (DNS rebinding).
//
// The fakes post to Nudge as the providers do: Telegram and Viber to the
// webhook registered with them (`nudge channels setup`), the others to
// BaseURL + channels.WebhookPath, Twilio statuses to each message's
// StatusCallback. cmd/nudge-fakes serves a Set for people trying campaigns
// without real accounts and for the deployment rehearsal; the demo runs one
// in its own process. Nothing here is linked into the `nudge` binary.
package fakes
