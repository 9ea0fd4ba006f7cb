package fakekit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// Served is what every fake has: its server and the messages it accepted
// (S). A fake embeds it (the Graph and Twilio fakes through Core) and its
// accessors become the fake's.
type Served[S any] struct {
	srv  *httptest.Server
	sent Log[S]
}

// Serve starts the fake's API on 127.0.0.1 with a free port and returns
// its base URL.
func (v *Served[S]) Serve(h http.Handler) string {
	v.srv = httptest.NewServer(h)
	return v.srv.URL
}

// Close stops the server.
func (v *Served[S]) Close() { v.srv.Close() }

// Record records an accepted message.
func (v *Served[S]) Record(m S) { v.sent.Add(m) }

// Sent returns the accepted messages in order.
func (v *Served[S]) Sent() []S { return v.sent.All() }

// Accepted counts the accepted messages.
func (v *Served[S]) Accepted() int { return len(v.sent.All()) }

// SentWhere returns the accepted messages keep accepts, in order.
func (v *Served[S]) SentWhere(keep func(S) bool) []S { return v.sent.Where(keep) }

// Core is what the fakes of the Graph and Twilio APIs share besides
// Served: receipt plans per recipient (P), a count of send requests, the
// URL it posts webhooks to, the failures of scheduled webhooks and a
// sequence of ids. A fake embeds it and its accessors become the fake's.
type Core[P, S any] struct {
	Served[S]
	hookErrs Log[error]
	plans    Plans[string, P]
	requests atomic.Int64
	webhook  atomic.Pointer[string]
	ids      atomic.Int64
}

// URL is the base to give the adapter as its API URL.
func (c *Core[P, S]) URL() string { return c.srv.URL }

// SetPlan scripts the receipts that follow each message to to.
func (c *Core[P, S]) SetPlan(to string, p P) { c.plans.Set(to, p) }

// SetDefaultPlan scripts receipts for recipients without their own plan.
func (c *Core[P, S]) SetDefaultPlan(p P) { c.plans.SetDefault(p) }

// Requests counts every send request, accepted or not.
func (c *Core[P, S]) Requests() int { return int(c.requests.Load()) }

// WebhookErrors returns failures of scheduled webhooks.
func (c *Core[P, S]) WebhookErrors() []error { return c.hookErrs.All() }

// NextID is the next number of the one sequence the fake draws its ids
// from (sent and inbound message ids, media ids): 1, 2, 3, …
func (c *Core[P, S]) NextID() int { return int(c.ids.Add(1)) }

// CountRequest counts a send request.
func (c *Core[P, S]) CountRequest() { c.requests.Add(1) }

// Accept records an accepted message and returns the plan for its
// recipient, if there is one.
func (c *Core[P, S]) Accept(to string, m S) (P, bool) {
	c.Record(m)
	return c.plans.For(to)
}

// SetWebhook sets where the fake posts its webhooks.
func (c *Core[P, S]) SetWebhook(url string) { c.webhook.Store(&url) }

// PostWebhook is Deliver to the URL of SetWebhook, failing when none is set;
// what names the fake in errors ("whatsappfake").
func (c *Core[P, S]) PostWebhook(ctx context.Context, client *http.Client, what, contentType string, body []byte, header map[string]string) error {
	url := c.webhook.Load()
	if url == nil || *url == "" {
		return fmt.Errorf("%s: no webhook set", what)
	}
	return Deliver(ctx, client, what+": webhook", *url, contentType, body, header)
}

// HookFailed records a scheduled webhook's failure (nil is ignored).
func (c *Core[P, S]) HookFailed(err error) {
	if err != nil {
		c.hookErrs.Add(err)
	}
}
