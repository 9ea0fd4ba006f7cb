package campaigns

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users/userstest"
)

func TestAPI(t *testing.T) {
	mux := server.NewMux()
	NewAPI(APIConfig{Store: NewStore(testenv.DB(t))}).Register(mux)
	srv := httptest.NewServer(userstest.AsAdmin(mux))
	defer srv.Close()

	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		return res.StatusCode, v
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, v map[string]any)
	}{
		{"apply new", "POST", "/v1/campaigns", base, 201, fields{"campaign_id": "c", "number": 1.0, "created": true}.check},
		{"apply same", "POST", "/v1/campaigns", base, 200, fields{"created": false}.check},
		{"apply with problems", "POST", "/v1/campaigns?file=bad.yaml", strings.Replace(base, "{template: t}", "{template: x}", 1), 400, func(t *testing.T, v map[string]any) {
			ps, _ := v["problems"].([]any)
			if len(ps) != 1 {
				t.Fatalf("%v", v)
			}
			p := ps[0].(map[string]any)
			if p["file"] != "bad.yaml" || p["line"] != 10.0 || p["col"] != 22.0 || p["rule"] != "missing-template" {
				t.Errorf("%v", p)
			}
			if e, _ := v["error"].(map[string]any); e["code"] != "invalid" {
				t.Errorf("%v", v)
			}
		}},
		{"list", "GET", "/v1/campaigns", "", 200, func(t *testing.T, v map[string]any) {
			cs, _ := v["campaigns"].([]any)
			if len(cs) != 1 || cs[0].(map[string]any)["id"] != "c" {
				t.Errorf("%v", v)
			}
		}},
		{"get", "GET", "/v1/campaigns/c", "", 200, func(t *testing.T, v map[string]any) {
			def, _ := v["definition"].(map[string]any)
			if def["name"] != "C" || v["source"] != base || v["current"] != true {
				t.Errorf("%v", v)
			}
		}},
		{"version by number", "GET", "/v1/campaigns/c/versions/1", "", 200, fields{"number": 1.0}.check},
		{"unknown version", "GET", "/v1/campaigns/c/versions/ffffffffffff", "", 404, nil},
		{"unknown campaign", "GET", "/v1/campaigns/nope", "", 404, nil},
		{"archive", "POST", "/v1/campaigns/c/archive", "", 200, fields{"archived": true}.check},
		{"archive unknown", "POST", "/v1/campaigns/nope/archive", "", 404, nil},
		{"too large", "POST", "/v1/campaigns", strings.Repeat("#", MaxFileSize+1), 413, nil},
		{"segment new", "POST", "/v1/segments", segmentBase, 201, fields{"id": "weekly-eaters", "number": 1.0, "created": true}.check},
		{"segment same", "POST", "/v1/segments", segmentBase, 200, fields{"created": false}.check},
		{"segment with problems", "POST", "/v1/segments?file=seg.yaml", strings.Replace(segmentBase, "[telegram, sms]", "[telegram, smss]", 1), 400, func(t *testing.T, v map[string]any) {
			ps, _ := v["problems"].([]any)
			if len(ps) != 1 || ps[0].(map[string]any)["file"] != "seg.yaml" || ps[0].(map[string]any)["line"] != 5.0 {
				t.Errorf("%v", v)
			}
		}},
		{"campaign to segments", "POST", "/v1/segments", base, 400, nil},
		{"segment to campaigns", "POST", "/v1/campaigns", segmentBase, 400, nil},
		{"campaign naming an unknown segment", "POST", "/v1/campaigns", strings.Replace(base, "settings:", "audience: {segment: nobody}\nsettings:", 1), 400, func(t *testing.T, v map[string]any) {
			ps, _ := v["problems"].([]any)
			if len(ps) != 1 || ps[0].(map[string]any)["rule"] != "unknown-segment" {
				t.Errorf("%v", v)
			}
		}},
		{"campaign naming the segment", "POST", "/v1/campaigns", strings.Replace(strings.Replace(base, "settings:", "audience: {segment: weekly-eaters}\nsettings:", 1), "id: c", "id: c2", 1), 201, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, v := do(tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, v)
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

// fields is what a JSON answer must hold at its top level (numbers as
// float64); check fails t with the whole answer otherwise.
type fields map[string]any

func (want fields) check(t *testing.T, v map[string]any) {
	t.Helper()
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %v, want %v: %v", k, v[k], w, v)
		}
	}
}
