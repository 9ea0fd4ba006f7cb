// Package instagram is the Instagram Direct adapter, through the Messenger
// Platform's Instagram messaging: the same Send API body as Messenger
// (meta.Messages, POST /<IG_ID>/messages with the linked page's token) with
// Instagram's rules — messaging_type RESPONSE inside the 24-hour window and
// only the HUMAN_AGENT tag outside it (7 days, human replies), text of at
// most 1000 UTF-8 bytes, quick replies, images, link buttons written into
// the text — and refusals classified like Messenger's plus Instagram's
// window subcode 2534022.
//
// The webhook (object "instagram") answers the hub.challenge handshake,
// verifies X-Hub-Signature-256 with the Meta app secret before reading
// anything, and turns messages, quick replies, postbacks (icebreakers), story
// replies and story mentions, ig.me ?ref= referrals (opt-in codes) and seen
// events into channels.Events (meta.Messaging). Story media is never
// downloaded: Meta's terms allow keeping the link, not the story.
package instagram
