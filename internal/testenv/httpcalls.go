package testenv

import (
	"net/http"
	"sync/atomic"
)

// HTTPCalls is an http.RoundTripper that counts the requests made through
// it, for tests that bound how many calls an adapter makes to its provider:
// hand Client() to the adapter, read N() after.
type HTTPCalls struct{ n atomic.Int64 }

// N is how many requests have been made.
func (c *HTTPCalls) N() int64 { return c.n.Load() }

// Client is an http.Client whose requests go through c.
func (c *HTTPCalls) Client() *http.Client { return &http.Client{Transport: c} }

// RoundTrip counts r and sends it through http.DefaultTransport.
func (c *HTTPCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}
