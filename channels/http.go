package channels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPClient is hc, or for nil the client REST adapters use by default: one
// with a 30-second timeout, so a hung provider fails the send instead of
// holding a worker.
func HTTPClient(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	return hc
}

// MaxIdlePerHost is how many idle connections to one provider host the
// adapters' transport keeps: as many as the worker has sends in flight to a
// paced account (worker/pace.go). Go's default keeps 2, so at hundreds of
// sends a second most sends would open a new connection (a TCP and TLS
// handshake) and leave one in TIME_WAIT.
const MaxIdlePerHost = 128

var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdlePerHost
	return t
}()

// CallTimeout bounds one provider request, answer included. Without it a
// provider that accepts the connection and never answers holds the claim
// (whose keepalive keeps its lease) and its consent locks for ever; a call
// that times out is a Transient "network" error like any other lost answer.
const CallTimeout = 30 * time.Second

// NewHTTPClient is the client `nudge` gives its channel adapters: at most
// CallTimeout per request, over a transport that keeps MaxIdlePerHost idle
// connections per provider.
func NewHTTPClient() *http.Client { return &http.Client{Transport: transport, Timeout: CallTimeout} }

// BaseURL is apiURL, or dflt when it is empty, without a trailing slash.
func BaseURL(apiURL, dflt string) string {
	if apiURL == "" {
		apiURL = dflt
	}
	return strings.TrimRight(apiURL, "/")
}

// API is a REST adapter's provider endpoint (Telegram, Viber, VK): its base
// URL, the HTTP client that calls it and the clock that stamps results.
type API struct {
	BaseURL string // without a trailing slash
	HC      *http.Client
	Now     func() time.Time
}

// NewAPI is the endpoint at baseURL, or dflt when it is empty (BaseURL),
// called through hc, or HTTPClient's default for nil, on the wall clock.
func NewAPI(baseURL, dflt string, hc *http.Client) API {
	return API{BaseURL: BaseURL(baseURL, dflt), HC: HTTPClient(hc), Now: time.Now}
}

// Post POSTs body as contentType to BaseURL+path with header and reads up to
// limit bytes of the answer; errors are Exchange's, naming op.
func (a API) Post(ctx context.Context, path, contentType string, body []byte, header map[string]string, op string, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return Exchange(a.HC, req, op, limit)
}

// Exchange sends an adapter's request and reads up to limit bytes of the
// answer. A request that gets no answer is a Transient error with code
// "network" naming op; the request's URL is left out of it, since some
// providers carry the token in the URL.
func Exchange(hc *http.Client, req *http.Request, op string, limit int64) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, &Error{Kind: Transient, Code: "network", Message: op + ": " + err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, &Error{Kind: Transient, Code: "network", Message: op + ": " + err.Error()}
	}
	return resp, raw, nil
}

// HTTPStatusError is the error of an answer whose HTTP status is not the
// provider's own success and which carries no provider error: 5xx and 429
// are Transient, anything else Invalid, with code "http_<status>".
func HTTPStatusError(op string, status int) *Error {
	kind := Invalid
	if status >= 500 || status == http.StatusTooManyRequests {
		kind = Transient
	}
	return &Error{Kind: kind, Code: "http_" + strconv.Itoa(status), Message: op + ": " + http.StatusText(status)}
}
