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

// Verify reports whether sig signs the POST to fullURL. Like Twilio's own
// request validators (twilio-python's RequestValidator, twilio-go), it accepts
// a signature over the URL with its port and over the URL without it:
// Twilio signs the URL as configured, which may name a port (":443", or an
// explicit ":8443" that the signature leaves out) or not. An empty token
// never verifies.
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

// portVariants is fullURL with its port and without it, as Twilio's
// validators try them: an explicit port is kept in one and dropped in the
// other; a URL without one gains the scheme's default (443, else 80).
func portVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	with, without := *u, *u
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		with.Host = u.Host + ":" + port
	} else {
		without.Host = u.Hostname()
		if strings.Contains(without.Host, ":") { // IPv6 literal
			without.Host = "[" + without.Host + "]"
		}
	}
	return []string{with.String(), without.String()}
}
