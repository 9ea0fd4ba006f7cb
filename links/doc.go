// Package links tracks the links of campaign messages. When the worker's
// outbox composes a campaign message, Rewrite turns every http(s) link of
// its text and buttons into a short signed redirect on NUDGE_BASE_URL
// (/l/<code>), one per message and link, and records where it goes: the
// link as written plus the campaign's UTM parameters and nudge_click=<code>.
// GET /l/{code} counts the click (first, last, how many; link-preview bots
// apart) and redirects there; GET /v1/clicks/{code} tells the shop's backend
// whose click it was, so it can attribute an order to it.
//
// A code is HMAC-SHA256(secret, message key, URL) cut to 96 bits: not
// guessable, the same when the same message is composed again, and served
// only when this package recorded it (no open redirect). The secret is
// NUDGE_LINK_SECRET, or one generated once per install and kept in Postgres.
//
// The package owns the tables links and link_secrets.
package links
