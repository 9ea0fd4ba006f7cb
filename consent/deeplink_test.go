package consent_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nudge-engine/nudge/consent/jwtlink"
)

// TestJWTMatrix drives GET /s/{jwt}?channel=telegram with every kind of good
// and bad token. Good ones redirect to the Telegram deep link with a code
// bound to the customer; bad ones get a 4xx page with the reason and leave
// the database untouched.
func TestJWTMatrix(t *testing.T) {
	t.Parallel()
	k := keys(t)
	h := newHarness(t)

	noneToken := func(c jwt.Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		// Name a real key too: the kid must not make "none" acceptable.
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"hs-new","typ":"JWT"}`))
		return hdr + s[strings.Index(s, "."):]
	}
	with := func(mod func(c *jwtlink.Claims)) *jwtlink.Claims {
		c := baseClaims("")
		mod(c)
		return c
	}
	hs := jwt.SigningMethodHS256
	cases := []struct {
		name   string
		token  func(jti string) string
		status int
		reason string // Russian text on the page (default language)
	}{
		{"valid HS256", func(j string) string { return sign(t, hs, "hs-new", k.hsNew, baseClaims(j)) }, 302, ""},
		{"valid RS256", func(j string) string { return sign(t, jwt.SigningMethodRS256, "rs1", k.rsa, baseClaims(j)) }, 302, ""},
		{"valid ES256", func(j string) string { return sign(t, jwt.SigningMethodES256, "es1", k.ec, baseClaims(j)) }, 302, ""},
		{"rotation: old key still valid", func(j string) string { return sign(t, hs, "hs-old", k.hsOld, baseClaims(j)) }, 302, ""},
		{"expired", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) {
				c.ID = j
				c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute))
			}))
		}, 410, "Срок действия ссылки истёк"},
		{"expired within leeway is valid", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) {
				c.ID = j
				c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-10 * time.Second))
			}))
		}, 302, ""},
		{"not yet valid", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) {
				c.ID = j
				c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Hour))
			}))
		}, 403, "Ссылка ещё не действует"},
		{"wrong audience", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.Audience = jwt.ClaimStrings{"other"} }))
		}, 403, "для другого сервиса"},
		{"wrong issuer", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.Issuer = "https://evil.example" }))
		}, 403, "другим отправителем"},
		{"wrong HS key", func(j string) string { return sign(t, hs, "hs-new", k.hsWrong, baseClaims(j)) }, 403, "Подпись ссылки неверна"},
		{"wrong RSA key", func(j string) string { return sign(t, jwt.SigningMethodRS256, "rs1", k.rsaOther, baseClaims(j)) }, 403, "Подпись ссылки неверна"},
		{"unknown kid", func(j string) string { return sign(t, hs, "hs-gone", k.hsNew, baseClaims(j)) }, 403, "неизвестным ключом"},
		{"no kid with several keys", func(j string) string { return sign(t, hs, "", k.hsNew, baseClaims(j)) }, 403, "неизвестным ключом"},
		{"alg none", func(j string) string { return noneToken(baseClaims(j)) }, 403, "недопустимым способом"},
		{"alg confusion: HS256 keyed with the RSA public key", func(j string) string {
			return sign(t, hs, "rs1", k.rsaPEM, baseClaims(j))
		}, 403, "недопустимым способом"},
		{"RS256 token on an HS key", func(j string) string { return sign(t, jwt.SigningMethodRS256, "hs-new", k.rsa, baseClaims(j)) }, 403, "недопустимым способом"},
		{"missing exp", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.ExpiresAt = nil }))
		}, 400, "не хватает данных"},
		{"missing jti", func(j string) string { return sign(t, hs, "hs-new", k.hsNew, baseClaims("")) }, 400, "не хватает данных"},
		{"missing sub", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.Subject = "" }))
		}, 400, "не хватает данных"},
		{"unknown topic", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.Topics = []string{"spam"} }))
		}, 400, "неверные данные"},
		{"bad time zone", func(j string) string {
			return sign(t, hs, "hs-new", k.hsNew, with(func(c *jwtlink.Claims) { c.ID = j; c.TZ = "Mars/Olympus" }))
		}, 400, "неверные данные"},
		{"malformed", func(string) string { return "not.a.token" }, 400, "повреждена"},
		{"garbage", func(string) string { return "abc" }, 400, "повреждена"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jti := "jti-" + strings.ReplaceAll(tc.name, " ", "-") + "-" + string(rune('a'+i%26))
			before := h.counts(t)
			res, body := h.get(t, "/s/"+tc.token(jti)+"?channel=telegram")
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body:\n%s", res.StatusCode, tc.status, body)
			}
			after := h.counts(t)
			if tc.status != 302 {
				if !strings.Contains(body, tc.reason) {
					t.Errorf("page lacks reason %q:\n%s", tc.reason, body)
				}
				if before != after {
					t.Errorf("refused token wrote rows: before %v after %v", before, after)
				}
				return
			}
			loc := res.Header.Get("Location")
			code, ok := strings.CutPrefix(loc, "https://t.me/GrowFoodBot?start=")
			if !ok {
				t.Fatalf("Location = %q", loc)
			}
			var ext, gotJTI, source string
			var topics []byte
			if err := h.db.QueryRow(`SELECT s.external_id, c.jti, c.source, array_to_json(c.topics)
				FROM consent_codes c JOIN subscribers s ON s.id = c.subscriber_id WHERE c.code = $1`, code).
				Scan(&ext, &gotJTI, &source, &topics); err != nil {
				t.Fatal(err)
			}
			if ext != "cust-42" || gotJTI != jti || source != "jwt_link" || string(topics) != `["service","marketing"]` {
				t.Errorf("code row: ext=%s jti=%s source=%s topics=%s", ext, gotJTI, source, topics)
			}
			if after[2] != before[2]+1 {
				t.Errorf("jti not stored: %v → %v", before, after)
			}
			if after[3] != before[3] {
				t.Errorf("a link alone must not record consent (the customer has not written yet)")
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		tok := sign(t, hs, "hs-new", k.hsNew, baseClaims("jti-replay"))
		res, _ := h.get(t, "/s/"+tok+"?channel=viber")
		if res.StatusCode != 302 || !strings.HasPrefix(res.Header.Get("Location"), "viber://pa?chatURI=growfood&context=") {
			t.Fatalf("first use: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		before := h.counts(t)
		res, body := h.get(t, "/s/"+tok+"?channel=telegram")
		if res.StatusCode != http.StatusGone || !strings.Contains(body, "уже использована") {
			t.Fatalf("replay: %d\n%s", res.StatusCode, body)
		}
		if after := h.counts(t); after != before {
			t.Errorf("replay wrote rows: %v → %v", before, after)
		}
	})

	t.Run("unknown channel records nothing", func(t *testing.T) {
		tok := sign(t, hs, "hs-new", k.hsNew, baseClaims("jti-channel"))
		before := h.counts(t)
		res, _ := h.get(t, "/s/"+tok+"?channel=icq")
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", res.StatusCode)
		}
		if after := h.counts(t); after != before {
			t.Errorf("wrote rows: %v → %v", before, after)
		}
		// The token was not consumed.
		if res, _ := h.get(t, "/s/"+tok+"?channel=vk"); res.StatusCode != 302 {
			t.Errorf("token unusable after a bad channel: %d", res.StatusCode)
		}
	})

	t.Run("without channel: a page of buttons, English by Accept-Language", func(t *testing.T) {
		tok := sign(t, hs, "hs-new", k.hsNew, baseClaims("jti-page"))
		res, body := h.do(t, "GET", "/s/"+tok, nil, map[string]string{"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
		if res.StatusCode != 200 {
			t.Fatalf("status %d\n%s", res.StatusCode, body)
		}
		var code string
		if err := h.db.Get(&code, `SELECT code FROM consent_codes WHERE jti = 'jti-page'`); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"Get updates in Telegram", "https://t.me/GrowFoodBot?start=" + code,
			"viber://pa?chatURI=growfood&amp;context=" + code, "https://m.me/growfood.ru?ref=" + code,
			"https://vk.me/growfood?ref=" + code, "https://wa.me/79001234567?text=", "marketing messages",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(body, "<b>Петрова") {
			t.Errorf("customer name rendered unescaped")
		}
	})

	t.Run("customer upserted from claims", func(t *testing.T) {
		var name, tz, locale string
		if err := h.db.QueryRow(`SELECT name, time_zone, locale FROM subscribers WHERE external_id = 'cust-42'`).Scan(&name, &tz, &locale); err != nil {
			t.Fatal(err)
		}
		if name != "Анна <b>Петрова</b>" || tz != "Asia/Yekaterinburg" || locale != "ru" {
			t.Errorf("subscriber = %q %q %q", name, tz, locale)
		}
	})
}

func (h *harness) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return h.do(t, "GET", path, nil, nil)
}

func (h *harness) postForm(t *testing.T, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	all := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	maps.Copy(all, hdr)
	return h.do(t, "POST", path, strings.NewReader(form.Encode()), all)
}

func (h *harness) postJSON(t *testing.T, path string, v any) (*http.Response, string) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	return h.do(t, "POST", path, strings.NewReader(s), map[string]string{"Content-Type": "application/json", "User-Agent": "shop-backend/1.0"})
}

// do sends a request to the harness's server with the headers in hdr
// (empty values are not sent) and returns the response with its body read.
func (h *harness) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, body)
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}
