package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/users"
)

// adminAPI calls the API with an admin key of the stack.
type adminAPI struct {
	t    testing.TB
	base string
	key  string
}

func newAdminAPI(t testing.TB, e *e2e) *adminAPI {
	_, key, err := e.s.keys.Create(e.ctx, "hooks-admin", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	return &adminAPI{t: t, base: e.base, key: key}
}

func (a *adminAPI) do(method, path string, in any, want int, out any) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	code, b := a.send(req)
	if want != 0 && code != want || want == 0 && code/100 != 2 {
		a.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// applyCampaign posts the campaign file src to the API, as a deploy script
// would, and returns the answer's status and body.
func (a *adminAPI) applyCampaign(src string) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.base+"/v1/campaigns", strings.NewReader(src))
	return a.send(req)
}

// send makes req with the admin key and returns the answer's status and body.
func (a *adminAPI) send(req *http.Request) (int, []byte) {
	a.t.Helper()
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
