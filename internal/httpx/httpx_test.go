package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// ByID answers the call's value with its status, and hands a bad id or the
// call's error to the API's fail.
func TestByID(t *testing.T) {
	gone := errors.New("gone")
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, gone) {
			err = Errorf(CodeNotFound, "", "no such thing")
		}
		WriteError(w, r, nil, err)
	}
	h := ByID("a thing id", http.StatusAccepted, fail, func(_ context.Context, id int64) (map[string]int64, error) {
		if id == 7 {
			return nil, gone
		}
		return map[string]int64{"id": id}, nil
	})
	mux := http.NewServeMux()
	mux.Handle("GET /things/{id}", h)
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/things/42", http.StatusAccepted, `{"id":42}`},
		{"/things/7", http.StatusNotFound, `{"error":{"code":"not_found","message":"no such thing"}}`},
		{"/things/0", http.StatusBadRequest, `{"error":{"code":"invalid","message":"must be a thing id","field":"id"}}`},
		{"/things/x", http.StatusBadRequest, `{"error":{"code":"invalid","message":"must be a thing id","field":"id"}}`},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		var got, want any
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		_ = json.Unmarshal([]byte(tc.body), &want)
		if w.Code != tc.status || !equalJSON(got, want) {
			t.Errorf("%s: %d %s, want %d %s", tc.path, w.Code, w.Body, tc.status, tc.body)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// QueryInt keeps dst when the parameter is absent, sets it within bounds,
// and refuses anything else with an invalid-field error saying must.
func TestQueryInt(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int
		ok    bool
	}{
		{"", 7, true}, {"limit=1", 1, true}, {"limit=500", 500, true},
		{"limit=0", 7, false}, {"limit=501", 7, false}, {"limit=x", 7, false}, {"limit=-3", 7, false},
	} {
		q, _ := url.ParseQuery(tc.query)
		got := 7
		err := QueryInt(q, "limit", 1, 500, "must be 1 to 500", &got)
		var e *Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q: %v", tc.query, err)
		case !tc.ok && (!errors.As(err, &e) || e.Code != CodeInvalid || e.Field != "limit" || e.Message != "must be 1 to 500"):
			t.Errorf("%q: error %#v, want an invalid limit", tc.query, err)
		case got != tc.want:
			t.Errorf("%q: %d, want %d", tc.query, got, tc.want)
		}
	}
}

// QueryIDs reads every id parameter it is given and reports the first bad
// one, in the order given.
func TestQueryIDs(t *testing.T) {
	q, _ := url.ParseQuery("owner_id=12&before=0&after=x")
	var owner, before, after int64
	err := QueryIDs(q, IDParam{Name: "owner_id", Dst: &owner}, IDParam{Name: "before", Dst: &before}, IDParam{Name: "after", Dst: &after})
	var e *Error
	if !errors.As(err, &e) || e.Field != "before" || e.Message != "must be a positive integer" || owner != 12 {
		t.Fatalf("owner %d, error %#v; want owner 12 and an invalid before", owner, err)
	}
	if err := QueryIDs(url.Values{}, IDParam{Name: "before", Dst: &before}); err != nil || before != 0 {
		t.Fatalf("absent before: %d, %v", before, err)
	}
}
