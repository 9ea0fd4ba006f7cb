package consent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users/userstest"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

const (
	testIssuer   = "https://shop.example"
	testAudience = "nudge"
)

// keyMaterial is generated once per test binary (RSA generation is slow).
type keyMaterial struct {
	rsa      *rsa.PrivateKey
	rsaPEM   []byte // public key PEM
	ec       *ecdsa.PrivateKey
	ecPEM    []byte
	hsOld    []byte
	hsNew    []byte
	hsWrong  []byte
	rsaOther *rsa.PrivateKey
}

var (
	kmOnce sync.Once
	km     keyMaterial
)

func keys(t testing.TB) keyMaterial {
	t.Helper()
	kmOnce.Do(func() {
		// Fixed throw-away keys (testdata/keys): generating RSA keys in every
		// test and fuzz worker process is slow.
		km.rsa = mustPrivate(jwt.ParseRSAPrivateKeyFromPEM, "rs1.key")
		km.rsaOther = mustPrivate(jwt.ParseRSAPrivateKeyFromPEM, "rs-other.key")
		km.ec = mustPrivate(jwt.ParseECPrivateKeyFromPEM, "es1.key")
		km.rsaPEM = pubPEM(&km.rsa.PublicKey)
		km.ecPEM = pubPEM(&km.ec.PublicKey)
		km.hsOld = []byte("old-secret-old-secret-old-secret-0123")
		km.hsNew = []byte("new-secret-new-secret-new-secret-4567")
		km.hsWrong = []byte("wrong-secret-wrong-secret-wrong-secret")
	})
	return km
}

func mustPrivate[K any](parse func([]byte) (K, error), name string) K {
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name))
	if err != nil {
		panic(err)
	}
	k, err := parse(b)
	if err != nil {
		panic(err)
	}
	return k
}

func pubPEM(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// testEnv lets configuration be written the way an operator writes it.
func testEnv(vars map[string]string) *config.Env {
	return &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

// testConfig is a full configuration with every channel and the test keys
// (hs-old, hs-new, rs1, es1), loaded through LoadConfig from PEM files.
func testConfig(t testing.TB) consent.Config {
	t.Helper()
	k := keys(t)
	dir := t.TempDir()
	rsPath := filepath.Join(dir, "rs1.pem")
	esPath := filepath.Join(dir, "es1.pem")
	if err := os.WriteFile(rsPath, k.rsaPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(esPath, k.ecPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	e := testEnv(map[string]string{
		"NUDGE_TELEGRAM_BOT":    "GrowFoodBot",
		"NUDGE_VIBER_URI":       "growfood",
		"NUDGE_WHATSAPP_NUMBER": "79001234567",
		"NUDGE_MESSENGER_PAGE":  "growfood.ru",
		"NUDGE_VK_GROUP":        "growfood",
		"NUDGE_JWT_KEYS": "hs-old:HS256:" + string(k.hsOld) + ",hs-new:HS256:" + string(k.hsNew) +
			",rs1:RS256:file:" + rsPath + "\nes1:ES256:" + esPath,
		"NUDGE_JWT_ISSUER":   testIssuer,
		"NUDGE_JWT_AUDIENCE": testAudience,
	})
	cfg := consent.LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type harness struct {
	db  *sqlx.DB
	cfg consent.Config
	srv *httptest.Server
	// client does not follow redirects: tests look at the Location.
	client *http.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	d := testenv.DB(t)
	cfg := testConfig(t)
	mux := server.NewMux()
	consent.NewRoutes(consent.RoutesConfig{DB: d, Config: cfg, Now: clock}).Register(mux)
	srv := httptest.NewServer(userstest.AsAdmin(mux))
	t.Cleanup(srv.Close)
	return &harness{db: d, cfg: cfg, srv: srv, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// counts returns the rows a deep link could write.
func (h *harness) counts(t testing.TB) [4]int {
	t.Helper()
	var c [4]int
	for i, tbl := range []string{"subscribers", "consent_codes", "consent_jwt_uses", "consent_events"} {
		if err := h.db.Get(&c[i], `SELECT count(*) FROM `+tbl); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func baseClaims(jti string) *jwtlink.Claims {
	return &jwtlink.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "cust-42",
			Issuer:    testIssuer,
			Audience:  jwt.ClaimStrings{testAudience},
			ExpiresAt: jwt.NewNumericDate(testNow.Add(10 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(testNow.Add(-time.Minute)),
			ID:        jti,
		},
		Topics: []string{"service", "marketing"},
		Name:   "Анна <b>Петрова</b>",
		Locale: "ru",
		TZ:     "Asia/Yekaterinburg",
	}
}

func sign(t testing.TB, m jwt.SigningMethod, kid string, key any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctx() context.Context { return context.Background() }
