// Package messenger is the Facebook Messenger Send API adapter: a hand-rolled
// Graph client (POST /me/messages) sending text with quick replies, link and
// postback buttons (button template) and images, with messaging_type UPDATE
// inside the 24-hour window and MESSAGE_TAG + tag (Message.Tag, e.g.
// HUMAN_AGENT, POST_PURCHASE_UPDATE) outside it; and a webhook that answers
// the hub.challenge handshake, verifies X-Hub-Signature-256 before reading
// anything and turns messages, quick replies, postbacks, referrals (m.me
// ?ref= opt-in codes), delivery and read watermarks into channels.Events.
//
// Messenger has no per-message failure webhook: failures are synchronous.
// Delivery and read receipts are watermarks ("everything sent to this user
// before T"), so status events carry Watermark and, for deliveries, the mids
// when Meta lists them.
//
// Albums and documents (rich.go): an album goes as a generic template,
// one card per photo; a document as a file attachment by URL; both before
// the text message, which keeps the buttons.
package messenger
