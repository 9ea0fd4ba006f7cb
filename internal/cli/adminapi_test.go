package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want || want == 0 && resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}
