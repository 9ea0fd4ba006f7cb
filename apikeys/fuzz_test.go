package apikeys

import (
	"strings"
	"testing"
)

// FuzzBearer: any Authorization header parses to a token or a refusal, never a panic.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer nk_abc", "bearer   nk_x ", "Basic dXNlcjpwYXNz", "Bearer", "", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearer(h)
		if ok && (tok == "" || strings.TrimSpace(tok) != tok) {
			t.Fatalf("token %q from %q", tok, h)
		}
	})
}
