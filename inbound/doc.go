// Package inbound makes provider webhooks durable: Sink stores every parsed
// channels.Event in Postgres before the webhook acknowledges it, recognises
// redeliveries by the provider's event id, and routes each new event once:
// starts to consent binding, opt-outs to consent revocation, statuses to the
// message ledger (and so the fallback ladder), replies and button presses to
// the flow waiting for them or the inbox. Events whose processing failed are
// retried by a reconciler loop, so an acknowledged event is never lost.
//
// Handlers may see an event twice (a crash between their effect and the
// processed mark), so each must be idempotent: consent writes are harmless to
// repeat, statuses only move forward, and replies resume a run by
// compare-and-set on its step sequence.
package inbound
