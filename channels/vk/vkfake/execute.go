package vkfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// MaxExecuteCalls is how many API calls one execute may make.
const MaxExecuteCalls = 25

// execute runs the subset of VKScript that batches calls:
// `return [API.<method>({…}), …];` (or a single `return API.<method>({…});`),
// each argument a JSON object whose values are strings or numbers. Only
// messages.send may be called. As on VK, the request counts once against the
// rate limit, a call that fails is false in "response" and adds
// {method, error_code, error_msg} to "execute_errors", in call order; code
// that does not parse is error 12, more than 25 calls error 13.
func (s *Server) execute(w http.ResponseWriter, p map[string]string, now time.Time) {
	calls, list, err := ParseExecute(p["code"])
	if err != nil {
		vkError(w, 12, p)
		return
	}
	if len(calls) > MaxExecuteCalls {
		vkError(w, 13, p)
		return
	}
	results := make([]any, len(calls))
	var errs []map[string]any
	for i, c := range calls {
		id, code := int64(0), 3 // only messages.send is known
		if c.Method == "messages.send" {
			id, code = s.sendCall(c.Params, now)
		}
		if code != 0 {
			results[i] = false
			errs = append(errs, map[string]any{"method": c.Method, "error_code": code, "error_msg": errMessages[code]})
			continue
		}
		results[i] = id
	}
	out := map[string]any{"response": results}
	if !list {
		out["response"] = results[0]
	}
	if len(errs) > 0 {
		out["execute_errors"] = errs
	}
	writeJSON(w, out)
}

// Call is one API call of an execute's code.
type Call struct {
	Method string
	Params map[string]string
}

// ParseExecute parses `return [API.m({…}), …];` or `return API.m({…});`;
// list reports the first form.
func ParseExecute(code string) (calls []Call, list bool, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(code), "return")
	if !ok {
		return nil, false, errors.New("code must be a return statement")
	}
	rest = strings.TrimSuffix(strings.TrimSpace(rest), ";")
	rest = strings.TrimSpace(rest)
	if list = strings.HasPrefix(rest, "["); list {
		if !strings.HasSuffix(rest, "]") {
			return nil, false, errors.New("unterminated array")
		}
		rest = strings.TrimSpace(rest[1 : len(rest)-1])
	}
	for rest != "" {
		var c Call
		if c, rest, err = parseCall(rest); err != nil {
			return nil, false, err
		}
		calls = append(calls, c)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if !list || rest[0] != ',' {
			return nil, false, fmt.Errorf("unexpected %.10q after a call", rest)
		}
		rest = strings.TrimSpace(rest[1:])
	}
	if len(calls) == 0 {
		return nil, false, errors.New("no API call")
	}
	return calls, list, nil
}

// parseCall parses `API.<method>(<JSON object>)` at the start of s.
func parseCall(s string) (Call, string, error) {
	rest, ok := strings.CutPrefix(s, "API.")
	if !ok {
		return Call{}, "", fmt.Errorf("expected API.<method>, got %.10q", s)
	}
	open := strings.IndexByte(rest, '(')
	if open <= 0 {
		return Call{}, "", errors.New("expected ( after the method")
	}
	c := Call{Method: rest[:open], Params: map[string]string{}}
	dec := json.NewDecoder(strings.NewReader(rest[open+1:]))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return Call{}, "", fmt.Errorf("%s: arguments: %w", c.Method, err)
	}
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			c.Params[k] = v
		case json.Number:
			c.Params[k] = v.String()
		default:
			return Call{}, "", fmt.Errorf("%s: parameter %s is not a string or number", c.Method, k)
		}
	}
	after := strings.TrimSpace(rest[open+1+int(dec.InputOffset()):])
	if !strings.HasPrefix(after, ")") {
		return Call{}, "", fmt.Errorf("%s: expected )", c.Method)
	}
	return c, after[1:], nil
}
