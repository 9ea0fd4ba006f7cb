package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// DefaultAPIURL is the Graph API base with the version Nudge is written
// against.
const DefaultAPIURL = "https://graph.facebook.com/v21.0"

// maxResponse bounds what is read of a Graph response.
const maxResponse = 1 << 20

// GraphError is the error object of a failed Graph call.
type GraphError struct {
	Status    int    `json:"-"` // HTTP status
	Message   string `json:"message"`
	Type      string `json:"type"`
	Code      int    `json:"code"`
	Subcode   int    `json:"error_subcode"`
	FBTraceID string `json:"fbtrace_id"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("graph error %d/%d (HTTP %d): %s", e.Code, e.Subcode, e.Status, e.Message)
}

// ClassifyStatus classifies a failed call that carried no Graph error JSON
// (code 0) by its HTTP status alone, which becomes e's code: 429 is
// RateLimited with retryAfter (Graph sends no Retry-After), 5xx or no
// answer at all Transient, anything else Invalid.
func ClassifyStatus(e *channels.Error, status int, retryAfter time.Duration) {
	e.Code = strconv.Itoa(status)
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = channels.RateLimited, retryAfter
	case status >= 500 || status == 0:
		e.Kind = channels.Transient
	default:
		e.Kind = channels.Invalid
	}
}

// ParseError reads a Graph error body. A body that is not Graph error JSON
// still yields a GraphError carrying the HTTP status (Code 0), so callers
// classify by status.
func ParseError(status int, body []byte) *GraphError {
	var env struct {
		Error *GraphError `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &GraphError{Status: status, Message: msg}
	}
	env.Error.Status = status
	return env.Error
}

// Graph calls one Graph API base URL with a bearer token.
type Graph struct {
	BaseURL string // e.g. DefaultAPIURL or a fake's URL
	Token   string
	HC      *http.Client
}

// ErrTransport marks failures before any Graph answer (dial, TLS, timeout,
// unreadable body): the request may or may not have been applied.
var ErrTransport = errors.New("graph transport")

// Post sends in as JSON to BaseURL+path and decodes a 2xx answer into out. A
// non-2xx answer returns a *GraphError; a transport failure wraps
// ErrTransport.
func (g *Graph) Post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("graph: encode: %w", err)
	}
	return g.do(ctx, http.MethodPost, path, bytes.NewReader(body), out)
}

// Get reads BaseURL+path (a node such as /{media-id}) and decodes a 2xx
// answer into out; errors are as for Post.
func (g *Graph) Get(ctx context.Context, path string, out any) error {
	return g.do(ctx, http.MethodGet, path, nil, out)
}

func (g *Graph) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(g.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("graph: request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := channels.HTTPClient(g.HC).Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTransport, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%w: read: %w", ErrTransport, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ParseError(resp.StatusCode, data)
	}
	// An error object inside a 2xx answer is a refusal all the same:
	// Instagram clients (chatwoot's among them) check every answer for one,
	// and the Instagram fake scripts it (unverified against Meta).
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{"error"`)) {
		if e := ParseError(resp.StatusCode, data); e.Code != 0 {
			return e
		}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("graph: decode answer: %w", err)
		}
	}
	return nil
}
