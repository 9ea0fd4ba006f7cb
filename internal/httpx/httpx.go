// Package httpx holds the HTTP plumbing every handler shares: the JSON error
// shape {"error":{"code","message","field"}}, the one table that maps error
// codes to statuses, and size-limited strict JSON decoding that names the field
// at fault.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxBody is the default request body limit.
const MaxBody = 1 << 20

// Code is a machine-readable error class; its HTTP status comes from statusOf.
type Code string

const (
	CodeInvalid      Code = "invalid"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeTooLarge     Code = "too_large"
	CodeRateLimited  Code = "rate_limited"
	CodeInternal     Code = "internal"
)

var statusOf = map[Code]int{
	CodeInvalid:      http.StatusBadRequest,
	CodeNotFound:     http.StatusNotFound,
	CodeConflict:     http.StatusConflict,
	CodeUnauthorized: http.StatusUnauthorized,
	CodeForbidden:    http.StatusForbidden,
	CodeTooLarge:     http.StatusRequestEntityTooLarge,
	CodeRateLimited:  http.StatusTooManyRequests,
	CodeInternal:     http.StatusInternalServerError,
}

// Error is an error a client can act on.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf makes an *Error.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Status returns the HTTP status for code.
func Status(code Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err as the JSON error shape. Errors that are not *Error
// become a 500 whose details are logged, never sent.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if log != nil {
			log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		e = &Error{Code: CodeInternal, Message: "internal error"}
	}
	WriteJSON(w, Status(e.Code), map[string]*Error{"error": e})
}

// DecodeJSON reads a size-limited JSON body into v, rejecting unknown fields
// and trailing data, and reports the offending field.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = MaxBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return Errorf(CodeInvalid, "", "request body must hold a single JSON value")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		big *http.MaxBytesError
	)
	switch {
	case errors.As(err, &big):
		return Errorf(CodeTooLarge, "", "request body is larger than %d bytes", limit)
	case errors.As(err, &syn):
		return Errorf(CodeInvalid, "", "malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return Errorf(CodeInvalid, typ.Field, "must be %s, got JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return Errorf(CodeInvalid, "", "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeInvalid, "", "request body ends in the middle of a JSON value")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Errorf(CodeInvalid, f, "unknown field")
	default:
		return Errorf(CodeInvalid, "", "invalid JSON: %v", err)
	}
}

// ClientIP is the address the request came from (RemoteAddr without the
// port): what login throttling counts and the audit log records.
func ClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return host
}

// PathID parses the path value "id" as a positive integer; otherwise it
// returns an invalid-field error on "id" saying what the id must be (what,
// e.g. "a positive integer").
func PathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, Errorf(CodeInvalid, "id", "must be %s", what)
	}
	return id, nil
}

// QueryInt sets *dst to the whole-number query parameter name when q has
// it; a value that is not a number from lo to hi is an invalid-field error
// on name saying must (e.g. "must be 1 to 500").
func QueryInt[T int | int64](q url.Values, name string, lo, hi T, must string, dst *T) error {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return Errorf(CodeInvalid, name, "%s", must)
	}
	*dst = T(n)
	return nil
}

// IDParam is a query parameter that holds an id (a positive integer) and
// where QueryIDs puts it.
type IDParam struct {
	Name string
	Dst  *int64
}

// QueryIDs sets each parameter's Dst as QueryInt does for a positive
// integer, in order, returning the first invalid-field error: the filters'
// id parameters (an owner's id, a "before" cursor) read alike.
func QueryIDs(q url.Values, params ...IDParam) error {
	for _, p := range params {
		if err := QueryInt(q, p.Name, 1, math.MaxInt64, "must be a positive integer", p.Dst); err != nil {
			return err
		}
	}
	return nil
}

// ByID is the handler of a request that names a resource by PathID (what
// says what the id must be): it answers what call returns for the id as
// JSON with status, or the id's or call's error through fail, the API's
// mapping of its errors.
func ByID[T any](what string, status int, fail func(http.ResponseWriter, *http.Request, error), call func(ctx context.Context, id int64) (T, error)) http.HandlerFunc {
	return Handle(status, fail, func(_ http.ResponseWriter, r *http.Request) (int64, error) { return PathID(r, what) }, call)
}

// Handle is the handler of a request that parse reads into an input (its
// path, query or body): it answers what call returns for the input as JSON
// with status, or parse's or call's error through fail, the API's mapping
// of its errors.
func Handle[In, Out any](status int, fail func(http.ResponseWriter, *http.Request, error), parse func(http.ResponseWriter, *http.Request) (In, error), call func(ctx context.Context, in In) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in, err := parse(w, r)
		if err != nil {
			fail(w, r, err)
			return
		}
		v, err := call(r.Context(), in)
		if err != nil {
			fail(w, r, err)
			return
		}
		WriteJSON(w, status, v)
	}
}

// JSONBody is the parse for Handle of a JSON body: DecodeJSON into a T with
// limit.
func JSONBody[T any](limit int64) func(http.ResponseWriter, *http.Request) (T, error) {
	return func(w http.ResponseWriter, r *http.Request) (T, error) {
		var v T
		err := DecodeJSON(w, r, limit, &v)
		return v, err
	}
}
