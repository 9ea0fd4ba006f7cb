// Package inbound makes provider webhooks durable and owns where inbound
// events go. Sink stores every parsed channels.Event in Postgres before the
// webhook acknowledges it, recognises redeliveries by the provider's event
// id, and routes each new event once through the interfaces declared here:
// starts to Consent.Start (a start that came in a customer's message without
// a known code is routed as that text), opt-outs (consent.IsOptOutEvent
// decides which texts and buttons are) to Consent.OptOut, statuses to
// Statuses (the message ledger and so the fallback ladder), replies and
// button presses to Replies (the flow waiting for them or the inbox). A start
// is answered with consent's welcome text where the provider allows one
// synchronous reply. Events whose processing failed are retried by the
// Reconciler loop, so an acknowledged event is never lost.
//
// Routes may see an event twice (a crash between their effect and the
// processed mark, which commits asynchronously: a crash of Postgres may lose
// it), so each must be idempotent: consent writes are harmless to repeat,
// statuses only move forward, and replies resume a run by compare-and-set on
// its step sequence.
package inbound
