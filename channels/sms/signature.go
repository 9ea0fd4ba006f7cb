package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader carries Twilio's request signature.
const SignatureHeader = "X-Twilio-Signature"

// Sign computes X-Twilio-Signature for a form POST to fullURL: base64 of
// HMAC-SHA1 keyed with the auth token over the URL followed by every POST
// parameter, sorted by name, as name+value (repeated names in value order).
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig signs the POST to fullURL. Like twilio-go it
// also tries the URL with the default port added or removed, because Twilio
// signs the URL as configured, which may or may not name :443 or :80. An
// empty token never verifies.
func Verify(authToken, fullURL string, params url.Values, sig string) bool {
	if authToken == "" || sig == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	for _, u := range portVariants(fullURL) {
		want, _ := base64.StdEncoding.DecodeString(Sign(authToken, u, params))
		if hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func portVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	out := []string{raw}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return out
	}
	v := *u
	if u.Port() == "" {
		v.Host = u.Host + ":" + def
	} else if u.Port() == def {
		v.Host = u.Hostname()
	} else {
		return out
	}
	return append(out, v.String())
}
