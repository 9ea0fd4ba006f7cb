package worker

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// call is the one place the engine calls a provider for one message. Every
// send (a step, a fallback rung, a manager's reply, the template retry of a
// window-closed refusal) reaches it through the outbox after policy, pacing
// and the in-flight ledger, so each call is timed and counted the same way.
func (e *Engine) call(ctx context.Context, ch string, m channels.Message) (channels.Result, error) {
	s, ok := e.senders[channels.Kind(ch)]
	if !ok {
		return channels.Result{}, noSender(ch)
	}
	start := time.Now()
	r, err := s.Send(ctx, m)
	e.cfg.Metrics.Sent(ch, time.Since(start))
	return r, err
}

// callBatch is call for a provider that takes many messages in one request;
// it also returns how long the request took, which sizes the next chunk.
func (e *Engine) callBatch(ctx context.Context, bs BatchSender, ch string, msgs []channels.Message) ([]channels.Result, []error, time.Duration) {
	start := time.Now()
	rs, errs := bs.SendBatch(ctx, msgs)
	took := time.Since(start)
	e.cfg.Metrics.Sent(ch, took)
	return rs, errs, took
}

// noSender is the failure of a message on a channel this process has no
// sender for (not configured, or its adapter failed to start).
func noSender(ch string) error {
	return &channels.Error{Kind: channels.Invalid, Code: "no_sender", Message: "no sender configured for channel " + ch}
}
