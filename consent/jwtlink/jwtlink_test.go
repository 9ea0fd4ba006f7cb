package jwtlink_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nudge-engine/nudge/consent/jwtlink"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("f", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x01", 32)))
	cases := []struct {
		name string
		spec string
		ids  string // comma-joined kids on success
		err  string // substring of the error
	}{
		{"every form", "a:HS256:" + strings.Repeat("s", 32) + ",b:hs256:base64:" + b64 + "\nc:HS256:file:" + secretFile +
			",d:RS256:file:testdata/rs1.pub, e:ES256:testdata/es1.pub", "a,b,c,d,e", ""},
		{"empty entries are skipped", " ,\n", "", ""},
		{"no alg", "a", "", "must be kid:ALG:source"},
		{"bad kid", "a b:HS256:" + strings.Repeat("s", 32), "", "key id"},
		{"short secret", "a:HS256:short", "", "at least 32 bytes"},
		{"bad base64", "a:HS256:base64:***", "", "not valid base64"},
		{"missing secret file", "a:HS256:file:/nonexistent", "", "cannot read secret file"},
		{"alg none", "a:none:x", "", "not one of HS256, RS256, ES256"},
		{"HS384 not offered", "a:HS384:" + strings.Repeat("s", 48), "", "not one of"},
		{"RSA under 2048 bits", "a:RS256:testdata/rsa1024.pub", "", "at least 2048 bits"},
		{"ES256 needs P-256", "a:ES256:testdata/p384.pub", "", "P-256"},
		{"EC key given as RSA", "a:RS256:testdata/es1.pub", "", "not a PEM RS256 public key"},
		{"duplicate kid", "a:HS256:" + strings.Repeat("s", 32) + ",a:HS256:" + strings.Repeat("t", 32), "", "appears twice"},
		{"all errors at once", "a:HS256:x,b:XX:y", "", "entry 2"},
	}
	for _, c := range cases {
		ks, err := jwtlink.ParseKeys(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), strings.Repeat("s", 32)) {
				t.Errorf("%s: error leaks the secret", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := strings.Join(ks.IDs(), ","); got != c.ids {
			t.Errorf("%s: kids %q, want %q", c.name, got, c.ids)
		}
	}
}

func TestVerifyHS256SignVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k, err := jwtlink.NewHS256Key("dev", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := jwtlink.NewKeys(k)
	v := jwtlink.NewVerifier(ks, "nudge", "shop", 0, func() time.Time { return now })
	claims := &jwtlink.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "c1", Issuer: "shop", Audience: jwt.ClaimStrings{"nudge"}, ID: "j1",
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))},
		Topics: []string{"marketing"},
	}
	tok, err := k.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil || got.Subject != "c1" || got.Topics[0] != "marketing" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// One key: a token without kid is accepted for it.
	plain := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	s, _ := plain.SignedString([]byte(strings.Repeat("k", 32)))
	if _, err := v.Verify(s); err != nil {
		t.Errorf("no kid, single key: %v", err)
	}
	// Exactly at exp (no leeway) is expired.
	late := jwtlink.NewVerifier(ks, "nudge", "shop", 0, func() time.Time { return now.Add(time.Minute) })
	if _, err := late.Verify(tok); jwtlink.ReasonOf(err) != jwtlink.ReasonExpired {
		t.Errorf("at exp: %v", err)
	}
	// No keys configured.
	if _, err := jwtlink.NewVerifier(nil, "nudge", "shop", 0, nil).Verify(tok); jwtlink.ReasonOf(err) != jwtlink.ReasonNoKeys {
		t.Errorf("no keys: %v", err)
	}
	// An RS/ES key cannot sign here.
	if _, err := (jwtlink.Key{ID: "x", Alg: jwtlink.RS256}).Sign(claims); err == nil {
		t.Error("RS256 key signed")
	}
}

// FuzzVerify: no token may panic the verifier, and nothing but a correctly
// signed HS256 token verifies.
func FuzzVerify(f *testing.F) {
	k, _ := jwtlink.NewHS256Key("dev", []byte(strings.Repeat("k", 32)))
	ks, _ := jwtlink.NewKeys(k)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := jwtlink.NewVerifier(ks, "nudge", "shop", 0, func() time.Time { return now })
	good, _ := k.Sign(&jwtlink.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "c1", Issuer: "shop", Audience: jwt.ClaimStrings{"nudge"}, ID: "j1",
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))},
		Topics: []string{"service"},
	})
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err == nil {
			if tok != good && !strings.HasPrefix(tok, good[:strings.LastIndex(good, ".")]) {
				t.Fatalf("verified a token that was not signed here: %q", tok)
			}
			if c.Subject == "" || c.ID == "" || len(c.Topics) == 0 {
				t.Fatalf("verified claims incomplete: %+v", c)
			}
			return
		}
		if jwtlink.ReasonOf(err) == "" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}
