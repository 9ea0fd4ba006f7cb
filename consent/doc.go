// Package consent owns whether Nudge may message a subscriber, and the proof.
//
// The ledger (consent_events) is append-only: one row per grant or revoke of
// a topic (service, marketing) on a channel or on every channel ('*'), with
// its source (widget, jwt_link, dialog, import, api) and proof (JWT id,
// opt-in code, provider event id, IP, user agent, consent text version). The
// current state is the newest row; writers take the subscriber's advisory
// lock so that the later commit is the newest row.
//
// Marketing is a separate topic because Russian advertising law (art. 18 of
// the Federal Law "On Advertising") requires the recipient's prior explicit
// consent to advertising messages, and messengers let a business write only
// after the customer wrote first. So consent starts with the customer: a
// deep link (from the site widget, or a JWT-signed link from the shop's
// account page) carries a short opaque opt-in code into the messenger; the
// customer's first message brings it back (Telegram /start CODE, Viber
// context, Messenger/Instagram/VK ref, WhatsApp prefilled text), and Binder.Start binds
// that channel identity to the subscriber and records consent for the code's
// topics. Opt-out (STOP, стоп, отписаться, unsubscribe, the unsubscribe
// button, a provider unsubscribe) revokes every topic on the channel at once.
//
// The package is the one home of the ledger: every read of "is consent
// current" (CurrentSQL, AudienceSQL for the scheduler's audience query,
// Current for the policy gate, Sendable for the worker's re-read at send
// time), every write (Ledger, RevokeChannel, Block, Import, Pseudonymise) and
// the per-subscriber lock (Lock for writers, LockShared for senders) live
// here; current.go states the rule and current_test.go tests it through each
// of those paths. A writer in a transaction does not wait on a stale sender:
// it ends a session that has held the shared lock idle for StaleSender
// (takeover.go), which senders allow for by re-checking their session
// within SenderProbe before every provider call (worker/lease.go).
//
// See docs/consent.md for the HTTP endpoints and configuration.
package consent
