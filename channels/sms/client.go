package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// MaxBody is Twilio's limit on Body.
const MaxBody = 1600

// Client sends through one Twilio account.
type Client struct {
	cfg Config
	hc  *http.Client
	now func() time.Time
}

// New returns a client; hc nil means the adapters' client (channels.HTTPClient:
// a timeout, the shared transport).
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, hc: channels.HTTPClient(hc), now: time.Now}
}

// Kind is channels.SMS.
func (c *Client) Kind() channels.Kind { return channels.SMS }

type message struct {
	SID         string `json:"sid"`
	Status      string `json:"status"`
	NumSegments string `json:"num_segments"`
}

// APIError is Twilio's error JSON.
type APIError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// Body is the SMS text of m: its text with link buttons appended as
// "label: URL" lines. Reply buttons have no SMS form; the template's SMS
// variant says how to answer.
func Body(m channels.Message) string {
	text := m.Text
	for _, b := range m.Buttons {
		if b.URL != "" {
			text += "\n" + b.Text + ": " + b.URL
		}
	}
	return strings.TrimPrefix(text, "\n")
}

// Form is the Messages.json form for m.
func (c *Client) Form(m channels.Message) url.Values {
	f := url.Values{}
	f.Set("To", m.To)
	if c.cfg.MessagingServiceSID != "" {
		f.Set("MessagingServiceSid", c.cfg.MessagingServiceSID)
	} else {
		f.Set("From", c.cfg.From)
	}
	f.Set("Body", Body(m))
	if m.ImageURL != "" {
		f.Set("MediaUrl", m.ImageURL)
	}
	if cb := c.cfg.StatusCallbackURL; cb != "" {
		corr := m.Correlation
		if corr == "" {
			corr = m.IdempotencyKey
		}
		if corr != "" {
			sep := "?"
			if strings.Contains(cb, "?") {
				sep = "&"
			}
			cb += sep + "c=" + url.QueryEscape(corr)
		}
		f.Set("StatusCallback", cb)
	}
	return f
}

// Send posts one message; the result's ProviderID is the SM… sid and
// Segments what Twilio will bill (counted locally when the answer omits it).
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	body := Body(m)
	if body == "" && m.ImageURL == "" {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: "empty message"}
	}
	if utf8.RuneCountInString(body) > MaxBody {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: fmt.Sprintf("body longer than %d characters", MaxBody)}
	}
	endpoint := c.cfg.APIURL + "/2010-04-01/Accounts/" + url.PathEscape(c.cfg.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(c.Form(m).Encode()))
	if err != nil {
		return channels.Result{}, fmt.Errorf("sms: request: %w", err)
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var ae APIError
		if json.Unmarshal(data, &ae) != nil {
			ae = APIError{}
		}
		ce := Classify(resp.StatusCode, ae.Code, ae.Message)
		if ce.Kind == channels.RateLimited {
			ce.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Second)
		}
		return channels.Result{}, ce
	}
	var msg message
	if err := json.Unmarshal(data, &msg); err != nil || msg.SID == "" {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "no_sid", Message: "answer carries no message sid"}
	}
	seg, err := strconv.Atoi(msg.NumSegments)
	if err != nil || seg <= 0 {
		seg = Segments(body)
	}
	return channels.Result{ProviderID: msg.SID, Segments: seg, SentAt: c.now()}, nil
}

func retryAfter(h string, def time.Duration) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return def
}

// Classify maps a Twilio REST error (HTTP status and error code) to a
// channels.Error.
func Classify(status, code int, msg string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg}
	if code == 0 {
		e.Code = strconv.Itoa(status)
	}
	switch {
	case code == 21610: // the recipient replied STOP
		e.Kind = channels.Blocked
	case code == 21614, code == 21635, code == 21612, code == 21408:
		// not a mobile number / landline / cannot route / region not enabled
		e.Kind = channels.NotReachable
	case code == 20429, status == http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = channels.RateLimited, time.Second
	case code == 21611: // From has too many queued messages
		e.Kind, e.RetryAfter = channels.RateLimited, time.Minute
	case status >= 500 || status == 0:
		e.Kind = channels.Transient
	default: // 21211 invalid To, 21602 empty body, 20003 auth, 21606 bad From, …
		e.Kind = channels.Invalid
	}
	return e
}

// ClassifyDelivery maps the ErrorCode of an undelivered/failed status
// callback to a kind: unreachable and unknown handsets try the next channel,
// 30004 (blocked) and 21610 revoke the channel, carrier hiccups retry.
func ClassifyDelivery(code string) channels.ErrorKind {
	switch code {
	case "30004", "21610":
		return channels.Blocked
	case "30001", "30008", "30009":
		return channels.Transient // queue overflow, unknown error, missing segment
	case "30002", "30010", "21211":
		return channels.Invalid // account suspended, price exceeds max, invalid number
	default: // 30003 unreachable, 30005 unknown handset, 30006 landline, 30007 filtered, …
		return channels.NotReachable
	}
}

var _ channels.Sender = (*Client)(nil)
