// Package hooks owns outgoing webhooks: the endpoints admins configure, the
// outbox of events the engine reports to them, and their signed, ordered,
// at-least-once delivery.
//
// An event is written by the package that owns the change it reports, in that
// change's transaction (Emit, or the SQL function nudge_hook_emit its triggers
// call), so a rolled-back change reports nothing and a committed one cannot be
// lost: consent for opt-in and opt-out, the inbox for replies and hand-offs,
// the worker for goals reached and failed messages. Emit writes one delivery
// per enabled endpoint that asked for the event's type.
//
// Deliveries wait in Postgres, not Redis: a dispatcher (woken by the emit's
// notification, and ticking on the injected clock for retries) queues one
// Asynq task per (endpoint, subscriber) line whose head is due, and the task
// posts the line's pending deliveries oldest first. Only a line's head is ever
// posted, under a lease on its row (posting_until, taken in a short
// transaction: the request itself holds no connection and no row lock), so a
// later event for a subscriber never arrives before an earlier one; a failed
// head waits with exponential backoff and holds its line, and the head of a
// poster that died is posted again once its lease lapses (at least once). An
// endpoint failing for 24 hours without a success is disabled, with an audit
// entry and a notice on the settings page.
//
// Every request is signed: Nudge-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the endpoint's secret>; Verify is the receiver's check.
package hooks
