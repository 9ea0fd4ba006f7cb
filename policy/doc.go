// Package policy is the send-time gate shared by the worker and preview:
// given what is known about a subscriber right now (Input, loaded by Store),
// Decide says whether a message may go, on which channel and to which
// address, or why not.
//
// Decide walks the candidate channels in order and takes the first one that
// has consent for the campaign topic, an identity (address), is not blocked
// and, for WhatsApp, Messenger and Instagram, is inside the 24h customer-service window
// or may be sent outside it. Then, for the chosen channel, the gates that do
// not depend on the channel apply in this order: an open hand-off, quiet
// hours (defer to their end), the frequency cap (drop).
//
// Channel rules:
//   - "The user must have written first" (Telegram, Viber, Messenger,
//     Instagram, VK): a
//     channel identity is created only by an inbound start or message from
//     the user (the bots cannot look people up), so having an identity on
//     such a channel is the proof; Decide does not check more.
//   - 24h windows (WhatsApp, Messenger, Instagram): if the identity's
//     LastInboundAt is
//     missing or 24h or more before Now, the window is closed. The send is
//     still allowed, with Decision.OutsideWindow set, when
//     Input.OutsideWindowOK[ch] is true: the caller sets it from the variant
//     that would be rendered (templates.OutsideWindow: a WhatsApp variant with
//     whatsapp_template, a Messenger variant with a tag). Otherwise the
//     channel is skipped with reason window_closed. Instagram has no tag a
//     campaign may use (HUMAN_AGENT is for a person's replies), so a
//     campaign step outside its window always skips it.
//   - Consent: Input.Consent[ch] is the current consent for the topic on ch,
//     where the newer of the channel's own row and the '*' row wins (Store
//     does this expansion).
//
// Quiet hours are wall-clock times in the subscriber's zone ("22:00" to
// "09:00" crosses midnight; equal start and end means none). A send inside
// them is deferred: DeferUntil is the first instant at or after the end
// time's wall clock on the right local day, computed with time.Date in the
// zone, so it is right on DST days: an end inside a skipped hour (02:30 on a
// spring-forward night) is the end of the gap (03:00 new time), and an end
// in the repeated fall-back hour is the occurrence after now.
//
// Hand-off: an open manager conversation pauses marketing; service messages
// go on. Settings.SendDuringHandoff overrides either default.
//
// When no channel qualifies, Reason is the reason of the candidate that got
// furthest through the checks (no_consent < no_identity < blocked <
// window_closed; earlier candidates win ties), and Rejected lists every
// candidate with its own reason, for preview.
package policy
