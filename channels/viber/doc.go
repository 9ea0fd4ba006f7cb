// Package viber is the Viber REST Bot API adapter (chatapi.viber.com/pa): an
// own client (the Go libraries hard-code the host and hide their HTTP client)
// for send_message and set_webhook, and a webhook handler that checks
// X-Viber-Content-Signature (hex HMAC-SHA256 of the raw body keyed with the
// auth token) before it parses anything.
//
// Viber answers HTTP 200 with a non-zero "status" on failure:
//
//	5 receiverNotRegistered, 6 receiverNotSubscribed,
//	11 receiverNoSuitableDevice                        not_reachable
//	12 tooManyRequests (100 messages/h to a user
//	   without a reply)                                rate_limited, RetryAfter = Config.RateLimitBackoff
//	1 invalidUrl, 2 invalidAuthToken, 3 badData,
//	4 missingData, 7 publicAccountBlocked (our
//	account), 8 notFound, 9 suspended, 10 webhookNotSet,
//	13, 14 and unknown codes                           invalid
//	HTTP 5xx, network errors                           transient
//
// Viber has no "user blocked the bot" send error: a user who leaves sends an
// "unsubscribed" event (EventOptOut) and later sends fail with 6.
//
// Buttons: reply buttons are sent with ActionType "reply" and ActionBody =
// Button.ID; a press arrives as an ordinary text message whose text is the
// ActionBody. To tell a press from typed text, every message carries
// tracking_data = {"nudge":1,"c":<Message.Correlation>,"b":[button ids]};
// Viber echoes the tracking_data of the bot's last message in the user's
// reply. An inbound text is an EventButton exactly when its tracking_data is
// such an envelope and the text equals one of its ids; otherwise it is
// EventText. Event.Correlation is the envelope's "c" (or the raw
// tracking_data when it is not ours).
//
// Statuses: delivered, seen and failed carry ProviderMessageID =
// message_token (Result.ProviderID of the send). A failed event gets
// ErrorKind not_reachable and ErrorMessage from the "desc" field.
//
// Albums (rich.go) go as a rich_media carousel, one card per photo (at
// most 6), and documents as file messages (size asked with HEAD), before
// the text and its keyboard; a retry resumes at the part that failed.
package viber
