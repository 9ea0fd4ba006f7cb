package subscribers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/users/userstest"
)

type apiBundle struct {
	bundle
	srv *httptest.Server
}

func setupAPI(t *testing.T) apiBundle {
	t.Helper()
	b := setup(t)
	mux := server.NewMux()
	subscribers.NewAPI(subscribers.APIConfig{
		Store:         b.store,
		Importer:      subscribers.NewImporter(b.db, b.clock.Now),
		MaxImportBody: 4 << 10,
	}).Register(mux)
	srv := httptest.NewServer(userstest.AsAdmin(mux))
	t.Cleanup(srv.Close)
	return apiBundle{bundle: b, srv: srv}
}

type apiError struct {
	Error struct {
		Code, Message, Field string
	}
	Errors []struct{ Code, Field, Message string }
}

func (a apiBundle) do(t *testing.T, method, path, ctype string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestAPIValidationNamesTheField(t *testing.T) {
	t.Parallel()
	a := setupAPI(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"bad phone", "POST", "/v1/subscribers", `{"external_id":"c-1","identities":[{"channel":"telegram","address":"1"},{"channel":"whatsapp","address":"+7 999"}]}`, 400, "invalid", "identities[1].address"},
		{"bad channel", "POST", "/v1/subscribers", `{"external_id":"c-1","identities":[{"channel":"icq","address":"1"}]}`, 400, "invalid", "identities[0].channel"},
		{"bad zone", "POST", "/v1/subscribers", `{"external_id":"c-1","time_zone":"Moscow"}`, 400, "invalid", "time_zone"},
		{"unknown field", "POST", "/v1/subscribers", `{"external_id":"c-1","phone":"+79990000000"}`, 400, "invalid", "phone"},
		{"wrong type", "POST", "/v1/subscribers", `{"external_id":42}`, 400, "invalid", "external_id"},
		{"no external id", "POST", "/v1/subscribers", `{"name":"Анна"}`, 400, "invalid", "external_id"},
		{"malformed", "POST", "/v1/subscribers", `{"external_id":`, 400, "invalid", ""},
		{"two values", "POST", "/v1/subscribers", `{"external_id":"a"}{"external_id":"b"}`, 400, "invalid", ""},
		{"unknown subscriber", "GET", "/v1/subscribers/nobody", ``, 404, "not_found", "external_id"},
		{"list bad limit", "GET", "/v1/subscribers?limit=5000", ``, 400, "invalid", "limit"},
		{"list bad param", "GET", "/v1/subscribers?plan=weekly", ``, 400, "invalid", "plan"},
		{"list bad cursor", "GET", "/v1/subscribers?cursor=xyz", ``, 400, "invalid", "cursor"},
		{"list bad channel", "GET", "/v1/subscribers?channel=fax", ``, 400, "invalid", "channel"},
		{"list bad time", "GET", "/v1/subscribers?created_after=yesterday", ``, 400, "invalid", "created_after"},
		{"event unknown subscriber", "POST", "/v1/subscribers/ghost/events", `{"name":"order.delivered"}`, 404, "not_found", "external_id"},
		{"event bad name", "POST", "/v1/subscribers/ghost/events", `{"name":"order delivered"}`, 400, "invalid", "name"},
		{"event bad time", "POST", "/v1/subscribers/ghost/events", `{"name":"a","occurred_at":"yesterday"}`, 400, "invalid", "occurred_at"},
		{"events bad time", "POST", "/v1/events", `{"events":[{"external_id":"a","name":"x"},{"external_id":"a","name":"x","occurred_at":"1 May"}]}`, 400, "invalid", "events[1].occurred_at"},
		{"events empty", "POST", "/v1/events", `{"events":[]}`, 400, "invalid", "events"},
		{"events bad item", "POST", "/v1/events", `{"events":[{"external_id":"c-0","name":"a"},{"name":"b"}]}`, 400, "invalid", "events[0].external_id"},
		{"erase unknown", "DELETE", "/v1/subscribers/ghost", ``, 404, "not_found", "external_id"},
		{"import bad header", "POST", "/v1/subscribers/import", "external_id,shoe\n1,2\n", 400, "invalid", "shoe"},
		{"import bad format", "POST", "/v1/subscribers/import?format=xlsx", "x", 400, "invalid", "format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			status, raw := a.do(t, c.method, c.path, "application/json", body)
			var e apiError
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("not JSON: %s", raw)
			}
			if status != c.status || e.Error.Code != c.code || e.Error.Field != c.field {
				t.Fatalf("got %d %s field=%q (%s), want %d %s field=%q", status, e.Error.Code, e.Error.Field, e.Error.Message, c.status, c.code, c.field)
			}
		})
	}
}

func TestAPIOversizedBody(t *testing.T) {
	t.Parallel()
	a := setupAPI(t)
	big := fmt.Sprintf(`{"external_id":"c-1","name":%q}`, strings.Repeat("я", subscribers.DefaultMaxBody))
	status, raw := a.do(t, "POST", "/v1/subscribers", "application/json", strings.NewReader(big))
	if status != http.StatusRequestEntityTooLarge || !bytes.Contains(raw, []byte(`"too_large"`)) {
		t.Fatalf("%d %s", status, raw)
	}
	csv := "external_id,name\n" + strings.Repeat("c-1,Анна\n", 1000)
	status, raw = a.do(t, "POST", "/v1/subscribers/import", "text/csv", strings.NewReader(csv))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("import: %d %s", status, raw)
	}
}

func TestAPIFlow(t *testing.T) {
	t.Parallel()
	a := setupAPI(t)
	status, raw := a.do(t, "POST", "/v1/subscribers", "application/json", strings.NewReader(
		`{"external_id":"c-1","name":"Анна <script>","time_zone":"Europe/Samara","attributes":{"plan":"weekly"},
		  "identities":[{"channel":"telegram","address":"1001"}]}`))
	if status != http.StatusCreated || !bytes.Contains(raw, []byte(`Анна \u003cscript\u003e`)) {
		t.Fatalf("create: %d %s", status, raw)
	}
	status, _ = a.do(t, "POST", "/v1/subscribers", "application/json", strings.NewReader(`{"external_id":"c-1","locale":"en"}`))
	if status != http.StatusOK {
		t.Fatalf("update: %d", status)
	}
	status, raw = a.do(t, "POST", "/v1/subscribers", "application/json", strings.NewReader(
		`{"external_id":"c-2","identities":[{"channel":"telegram","address":"1001"}]}`))
	if status != http.StatusConflict || !bytes.Contains(raw, []byte(`"field":"identities[0].address"`)) {
		t.Fatalf("conflict: %d %s", status, raw)
	}
	status, raw = a.do(t, "GET", "/v1/subscribers/c-1", "", nil)
	var s subscribers.Subscriber
	if err := json.Unmarshal(raw, &s); err != nil || status != 200 || s.Locale != "en" || s.TimeZone != "Europe/Samara" {
		t.Fatalf("get: %d %s", status, raw)
	}
	status, raw = a.do(t, "POST", "/v1/subscribers/c-1/events", "application/json", strings.NewReader(
		`{"name":"order.delivered","occurred_at":"2026-03-01T10:00:00+03:00","payload":{"order_id":"o-1"},"idempotency_key":"o-1"}`))
	if status != http.StatusAccepted || !bytes.Contains(raw, []byte(`"accepted":1`)) {
		t.Fatalf("event: %d %s", status, raw)
	}
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for i := 0; i < subscribers.MaxEventBatch; i++ {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"external_id":"c-1","name":"menu.viewed","idempotency_key":"k%d"}`, i%500)
	}
	batch.WriteString(`]}`)
	status, raw = a.do(t, "POST", "/v1/events", "application/json", strings.NewReader(batch.String()))
	if status != http.StatusAccepted || !bytes.Contains(raw, []byte(`"accepted":500,"duplicates":500`)) {
		t.Fatalf("batch: %d %s", status, raw)
	}
	tooMany := strings.Replace(batch.String(), `]}`, `,{"external_id":"c-1","name":"x"}]}`, 1)
	status, raw = a.do(t, "POST", "/v1/events", "application/json", strings.NewReader(tooMany))
	if status != http.StatusBadRequest || !bytes.Contains(raw, []byte(`"field":"events"`)) {
		t.Fatalf("1001 events: %d %s", status, raw)
	}
	status, raw = a.do(t, "POST", "/v1/subscribers/import", "text/csv", strings.NewReader(
		"external_id,phone,attr.plan\nc-3,+79990000003,weekly\nc-4,oops,weekly\n"))
	var rep subscribers.Report
	if err := json.Unmarshal(raw, &rep); err != nil || status != 200 || rep.Imported != 1 || rep.Rejected != 1 || rep.Errors[0].Line != 3 {
		t.Fatalf("import: %d %s", status, raw)
	}
	status, raw = a.do(t, "GET", "/v1/subscribers?attr.plan=weekly&limit=1", "", nil)
	var p subscribers.Page
	if err := json.Unmarshal(raw, &p); err != nil || status != 200 || len(p.Subscribers) != 1 || p.Next == "" {
		t.Fatalf("list: %d %s", status, raw)
	}
	status, raw = a.do(t, "GET", "/v1/subscribers?attr.plan=weekly&limit=1&cursor="+p.Next, "", nil)
	p = subscribers.Page{}
	if err := json.Unmarshal(raw, &p); err != nil || status != 200 || len(p.Subscribers) != 1 || p.Subscribers[0].ExternalID != "c-3" || p.Next != "" {
		t.Fatalf("list page 2: %d %s", status, raw)
	}
	if status, raw = a.do(t, "DELETE", "/v1/subscribers/c-1", "", nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d %s", status, raw)
	}
	if status, _ = a.do(t, "GET", "/v1/subscribers/c-1", "", nil); status != http.StatusNotFound {
		t.Fatalf("get after erase: %d", status)
	}
}

func TestAPIWithAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	keys := apikeys.NewStore(b.db, nil)
	_, secret, err := keys.Create(context.Background(), "shop", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	_, viewer, err := keys.Create(context.Background(), "figures", users.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	mux := server.NewMux()
	subscribers.NewAPI(subscribers.APIConfig{Store: b.store, Importer: subscribers.NewImporter(b.db, nil)}).Register(mux)
	srv := httptest.NewServer(apikeys.Middleware(keys, nil)(mux))
	defer srv.Close()
	for _, c := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer nk_wrong", 401}, {"Bearer " + viewer, 403}, {"Bearer " + secret, 201}} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/subscribers", strings.NewReader(`{"external_id":"c-1"}`))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Fatalf("auth %q: status %d, want %d", c.auth, res.StatusCode, c.status)
		}
	}
}
