package vk

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nudge-engine/nudge/channels"
)

// Limits of one execute request.
const (
	// MaxExecuteCalls is how many API calls one execute may make (VK's
	// documented limit of the method).
	MaxExecuteCalls = 25
	// maxExecuteCode bounds one request's code. VK documents no size limit
	// for code; a chunk ends before it so that a request of 25 long texts
	// stays a modest POST (a single message is never split).
	maxExecuteCode = 64 << 10
)

// SendBatch sends msgs with the execute method, up to MaxExecuteCalls
// messages.send calls per request, one request after another: VK counts an
// execute as one request against the community's requests-per-second limit,
// and a blast costs one HTTP exchange per 25 messages instead of one each.
// errs[i] is msgs[i]'s error: a local refusal (Params), the whole request's
// failure (network, HTTP, a top-level error such as 6 or 5), or the call's
// own error from execute_errors. random_id deduplicates each call as it does
// for Send, so a request retried after a lost answer sends nothing twice.
func (c *Client) SendBatch(ctx context.Context, msgs []channels.Message) ([]channels.Result, []error) {
	res, errs := make([]channels.Result, len(msgs)), make([]error, len(msgs))
	var (
		idx  []int // indexes of msgs in the request being built
		code bytes.Buffer
	)
	flush := func() {
		if len(idx) == 0 {
			return
		}
		defer func() { idx, code = idx[:0], bytes.Buffer{} }()
		// A request not made yet when ctx ends is not made (a worker's
		// batch context ends between requests, never during one).
		if err := ctx.Err(); err != nil {
			for _, i := range idx {
				errs[i] = err
			}
			return
		}
		code.WriteString("];")
		ids, callErrs := c.execute(ctx, code.String(), len(idx))
		for k, i := range idx {
			if callErrs[k] != nil {
				errs[i] = callErrs[k]
				continue
			}
			res[i] = channels.Result{ProviderID: strconv.FormatInt(ids[k], 10), SentAt: c.api.Now()}
		}
	}
	for i, m := range msgs {
		call, err := c.executeCall(ctx, m)
		if err != nil {
			errs[i] = err
			continue
		}
		if len(idx) == MaxExecuteCalls || (len(idx) > 0 && code.Len()+len(call)+2 > maxExecuteCode) {
			flush()
		}
		if len(idx) == 0 {
			code.WriteString("return [")
		} else {
			code.WriteByte(',')
		}
		code.Write(call)
		idx = append(idx, i)
	}
	flush()
	return res, errs
}

// CallsPerRequest is how many messages one SendBatch request carries
// (MaxExecuteCalls): the worker reserves one slot of the community's rate per
// request. A request whose code would pass maxExecuteCode goes as two, so 25
// very long texts may take two of VK's requests for one slot (VK answers
// those beyond its limit with error 6, retried a second later).
func (c *Client) CallsPerRequest() int { return MaxExecuteCalls }

// executeCall is m as one VKScript call, API.messages.send({…}), its
// parameters those of Send (sendParams) as a JSON object of strings, the
// form vk-io's getExecuteMethod gives them.
func (c *Client) executeCall(ctx context.Context, m channels.Message) ([]byte, error) {
	v, err := c.sendParams(ctx, m)
	if err != nil {
		return nil, err
	}
	obj := make(map[string]string, len(v))
	for k := range v {
		obj[k] = v.Get(k)
	}
	var b bytes.Buffer
	b.WriteString("API.messages.send(")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a JS string literal needs no HTML escapes
	if err := enc.Encode(obj); err != nil {
		return nil, invalid("encode message: %v", err)
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	b.WriteByte(')')
	return b.Bytes(), nil
}

// executeError is one entry of execute_errors.
type executeError struct {
	Method  string `json:"method"`
	Code    int    `json:"error_code"`
	Message string `json:"error_msg"`
}

// execute posts code (n messages.send calls) and returns each call's
// message id or error. A call that failed is false in "response"; its
// error is the next entry of execute_errors naming messages.send (VK lists
// them in call order, and may add one for execute itself).
func (c *Client) execute(ctx context.Context, code string, n int) ([]int64, []error) {
	ids, errs := make([]int64, n), make([]error, n)
	all := func(err error) ([]int64, []error) {
		for k := range errs {
			errs[k] = err
		}
		return ids, errs
	}
	v := url.Values{"code": {code}, "v": {Version}}
	resp, raw, err := c.api.Post(ctx, "/execute", "application/x-www-form-urlencoded", []byte(v.Encode()),
		map[string]string{"Authorization": "Bearer " + c.cfg.Token}, "execute", 4<<20)
	if err != nil {
		return all(err)
	}
	if resp.StatusCode != http.StatusOK {
		return all(channels.HTTPStatusError("execute", resp.StatusCode))
	}
	var ar struct {
		Response []json.RawMessage `json:"response"`
		Error    *APIError         `json:"error"`
		Errors   []executeError    `json:"execute_errors"`
	}
	if err := json.Unmarshal(raw, &ar); err != nil || (ar.Error == nil && ar.Response == nil) {
		return all(&channels.Error{Kind: channels.Transient, Code: "http_200", Message: "execute: unreadable answer"})
	}
	if ar.Error != nil {
		return all(Classify(ar.Error.Code, ar.Error.Message))
	}
	next := 0 // the next execute_errors entry to pair with a false
	callError := func() error {
		for ; next < len(ar.Errors); next++ {
			if e := ar.Errors[next]; e.Method == "messages.send" {
				next++
				return Classify(e.Code, e.Message)
			}
		}
		return &channels.Error{Kind: channels.Transient, Code: "execute_error", Message: "messages.send failed inside execute without an error"}
	}
	for k := range n {
		if k >= len(ar.Response) {
			errs[k] = &channels.Error{Kind: channels.Transient, Code: "http_200", Message: "execute: answer has fewer results than calls"}
			continue
		}
		if err := json.Unmarshal(ar.Response[k], &ids[k]); err != nil || ids[k] <= 0 {
			ids[k], errs[k] = 0, callError()
		}
	}
	return ids, errs
}
