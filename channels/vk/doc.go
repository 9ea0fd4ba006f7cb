// Package vk is the VK (VKontakte) community bot adapter: an own client for
// messages.send and messages.sendMessageEventAnswer (form-encoded, v=5.199,
// token in the Authorization header) and a Callback API handler.
//
// An own client rather than github.com/SevereCloud/vksdk: two methods are
// needed, and classifying errors exactly needs the raw error_code; the SDK's
// built-in limiter would also hide 429-like waits that the worker's Redis
// limiter should own.
//
// Batches: SendBatch (execute.go) sends up to MaxExecuteCalls messages in
// one execute request, `return [API.messages.send({…}),…];`, each call's
// parameters those of Send as a JSON object of strings (the form vk-io's
// getExecuteMethod gives them). VK counts an execute as one request against
// the community's limit; a failed call is false in "response" and its error
// the next messages.send entry of "execute_errors", in call order.
//
// Idempotency: random_id = RandomID(Message.IdempotencyKey), a non-zero
// positive int32 (FNV-1a), so a retried send of the same intent is deduped by
// VK itself (VK answers with the first message's id).
//
// Images: VK messages carry images only as uploaded attachments. Send
// uploads every image URL of the message (photos.getMessagesUploadServer →
// upload → photos.saveMessagesPhoto, photos.go), through a PhotoCache when
// one is set so each URL is uploaded once per community, and sends up to 10
// as comma-separated attachments; a document is uploaded through the docs
// flow (docs.go) and attached after them. An ImageURL already of the form
// photo<owner>_<id>[_key] is sent as is; Params alone (no upload) puts any
// other URL in the text as a link.
//
// Buttons: an inline keyboard, one button per row (VK allows 6 rows): reply
// buttons are "text" buttons with payload {"button":"<id>"} (a press arrives
// as message_new with that payload: EventButton), links are "open_link".
// Callback-button presses (message_event) are also understood and answered
// with messages.sendMessageEventAnswer.
//
// Error classification (VK answers HTTP 200 with {"error":{…}}):
//
//	900 user is in the community's blacklist / blocked us  blocked
//	901 no permission (never allowed, or denied)           not_reachable
//	902 privacy settings                                    not_reachable
//	6 too many requests per second                          rate_limited, 1s
//	9 flood control                                         rate_limited, 1m
//	29 method rate limit reached                            rate_limited, 1h
//	1 unknown, 10 internal server error, HTTP 5xx, network  transient
//	everything else (5 auth, 7, 15, 100, 911, 914, …)       invalid
//
// Callback API: authenticity is the "secret" field of the body, so the
// handler decodes only the envelope (type, group_id, secret) first, checks
// group_id and the secret in constant time, and only then reads "object". A
// "confirmation" request is answered with the confirmation string, every
// other request with plain "ok".
//
// Read receipts: message_read carries read_message_id, a watermark by id
// (every message in that dialog with id ≤ it is read). The event carries it
// as ProviderMessageID; VK message ids grow within a community, so the status
// consumer may treat it as "read up to".
package vk
