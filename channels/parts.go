package channels

import (
	"context"
	"errors"
)

// Part is one provider call of a message that goes out as several (an album
// and then its text, a document and then the text, an image and then the
// text where a channel has no caption).
type Part func(ctx context.Context) (Result, error)

// SendParts makes the calls of a multi-part message in order, from
// m.SkipParts on, and returns the last call's result. When a call fails the
// error is a *Error whose PartsSent counts the parts delivered before it, so
// the worker records them and a retry resumes at the failed part instead of
// repeating what the customer already has. The parts of a message must be
// the same on every try: adapters build them from the message alone.
func SendParts(ctx context.Context, m Message, parts []Part) (Result, error) {
	if m.SkipParts >= len(parts) && len(parts) > 0 {
		return Result{}, &Error{Kind: Invalid, Code: "parts_sent", Message: "every part of this message was sent by an earlier try",
			PartsSent: m.SkipParts}
	}
	var last Result
	for i := max(m.SkipParts, 0); i < len(parts); i++ {
		r, err := parts[i](ctx)
		if err != nil {
			ce := &Error{Kind: Transient, Message: err.Error()}
			var e *Error
			if errors.As(err, &e) {
				c := *e
				ce = &c
			}
			ce.PartsSent = i
			return Result{}, ce
		}
		last = r
	}
	return last, nil
}
