package fakekit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// NewClient is the client fakes deliver webhooks with.
func NewClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// AfterFunc is the default timer of fakes that schedule receipts:
// time.AfterFunc without its handle.
func AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// WriteJSON answers status with v as application/json.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteFile answers a file a user sent, as the provider's media server
// does: data typed mime, with its length.
func WriteFile(w http.ResponseWriter, mime string, data []byte) {
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// Post POSTs body to url as contentType ("" = no Content-Type) with header
// (empty values are not sent), as a provider delivers a webhook, and returns
// the status and up to 1 MiB of the answer.
func Post(ctx context.Context, c *http.Client, url, contentType string, body []byte, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

// Deliver is Post for fakes that count any answer but 2xx as a failed
// delivery; what names the webhook in errors ("messengerfake: webhook").
func Deliver(ctx context.Context, c *http.Client, what, url, contentType string, body []byte, header map[string]string) error {
	st, _, err := Post(ctx, c, url, contentType, body, header)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if st/100 != 2 {
		return fmt.Errorf("%s answered %d", what, st)
	}
	return nil
}

// Defaults fills in the options every fake with receipts shares: now
// (time.Now), after, which schedules receipts (AfterFunc), and client, which
// delivers webhooks (NewClient).
func Defaults(now *func() time.Time, after *func(time.Duration, func()), client **http.Client) {
	if *now == nil {
		*now = time.Now
	}
	if *after == nil {
		*after = AfterFunc
	}
	if *client == nil {
		*client = NewClient()
	}
}
