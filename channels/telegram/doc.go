// Package telegram is the Telegram Bot API adapter: a small own client that
// sends text, inline keyboards and photos as JSON (sendMessage, sendPhoto),
// classifies Bot API errors into channels.Error kinds, and a webhook handler
// that checks X-Telegram-Bot-Api-Secret-Token before it reads the update.
//
// An own client rather than github.com/go-telegram/bot or telego: Nudge needs
// four methods (sendMessage, sendPhoto, answerCallbackQuery, setWebhook), the
// exact error_code/description/parameters.retry_after of every failure for
// classification, a base URL pointing at the fake, and no background getMe or
// polling goroutines. A ~300-line client gives all of that with no dependency.
//
// Error classification (Send):
//
//	429                                           rate_limited, RetryAfter = parameters.retry_after
//	403 "bot was blocked by the user"             blocked (consent for Telegram is revoked)
//	403 "bot was kicked ..."                      blocked
//	403 "user is deactivated"                     not_reachable (deleted account: nobody to revoke)
//	403 "bot can't initiate conversation ..."     not_reachable (the user never pressed Start)
//	403 other                                     not_reachable
//	400 "USER_IS_BLOCKED"                         blocked (seen for media instead of 403)
//	400 "chat not found", "PEER_ID_INVALID"       not_reachable
//	400 with parameters.migrate_to_chat_id        not_reachable (group became a supergroup)
//	5xx, network errors, unreadable answers       transient
//	other 4xx (400 bad request, 401, 404, 409)    invalid
//
// Result.ProviderID is "<chat_id>:<message_id>" because Telegram message ids
// are only unique within a chat. Telegram has no delivery or read receipts.
//
// Albums and documents (album.go): Images go as sendMediaGroup (2-10
// photos, the text as the first caption when there are no buttons, else
// a sendMessage with the keyboard after it), a Document as sendDocument
// (by URL only PDF, ZIP or GIF, which Telegram fetches).
package telegram
