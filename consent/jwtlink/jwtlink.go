// Package jwtlink verifies the JWTs a shop's backend signs for opt-in deep
// links (GET /s/{jwt}). It knows nothing of the database: it turns a token
// into verified Claims or an *Error whose Reason says, in words a customer's
// browser page can show, why the token was refused. Single use of the jti is
// enforced by the consent package, which stores it with the code it mints.
//
// Keys are configured as a list (NUDGE_JWT_KEYS, see ParseKeys); the token's
// `kid` header selects one, so a shop rotates by adding a new key, signing
// with it, and removing the old one later. Each key is pinned to one
// algorithm (HS256, RS256 or ES256) and the parser accepts only that
// algorithm for it, so `alg: none` and algorithm confusion (an HS256 token
// "signed" with an RSA public key) cannot verify.
package jwtlink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nudge-engine/nudge/internal/clock"
)

// Algorithms a key may be pinned to.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

// MinSecretLen is the shortest HS256 secret accepted (RFC 7518 §3.2: a key of
// the hash size or larger).
const MinSecretLen = 32

// MaxTokenLen bounds the token we even try to parse (it travels in a URL path).
const MaxTokenLen = 4096

// Key is one configured verification key.
type Key struct {
	ID  string // kid
	Alg string // HS256 | RS256 | ES256
	// verify is []byte (HS256), *rsa.PublicKey (RS256) or *ecdsa.PublicKey (ES256).
	verify any
}

// NewHS256Key returns an HS256 key (used by the demo's development key and tests).
func NewHS256Key(kid string, secret []byte) (Key, error) {
	if err := checkKid(kid); err != nil {
		return Key{}, err
	}
	if len(secret) < MinSecretLen {
		return Key{}, fmt.Errorf("key %q: HS256 secret must be at least %d bytes, got %d", kid, MinSecretLen, len(secret))
	}
	return Key{ID: kid, Alg: HS256, verify: append([]byte(nil), secret...)}, nil
}

// NewPublicKey returns an RS256 or ES256 key from a parsed public key.
func NewPublicKey(kid string, pub any) (Key, error) {
	if err := checkKid(kid); err != nil {
		return Key{}, err
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("key %q: RSA key must have at least 2048 bits, got %d", kid, p.N.BitLen())
		}
		return Key{ID: kid, Alg: RS256, verify: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("key %q: ES256 needs a P-256 key, got %s", kid, p.Curve.Params().Name)
		}
		return Key{ID: kid, Alg: ES256, verify: p}, nil
	default:
		return Key{}, fmt.Errorf("key %q: unsupported public key type %T", kid, pub)
	}
}

// Sign signs claims with an HS256 key (the only kind whose verification key
// can also sign). The demo uses it to mint links with its development key.
func (k Key) Sign(c *Claims) (string, error) {
	secret, ok := k.verify.([]byte)
	if !ok || k.Alg != HS256 {
		return "", fmt.Errorf("key %q: only HS256 keys can sign here", k.ID)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = k.ID
	return t.SignedString(secret)
}

var kidRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func checkKid(kid string) error {
	if !kidRE.MatchString(kid) {
		return fmt.Errorf("key id %q must be 1-64 characters of A-Z a-z 0-9 . _ -", kid)
	}
	return nil
}

// Keys is the configured key set, looked up by kid.
type Keys struct {
	byID  map[string]Key
	order []string
}

// NewKeys builds a key set; key ids must be unique.
func NewKeys(keys ...Key) (*Keys, error) {
	ks := &Keys{byID: map[string]Key{}}
	for _, k := range keys {
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", k.ID)
		}
		ks.byID[k.ID] = k
		ks.order = append(ks.order, k.ID)
	}
	return ks, nil
}

// Len is the number of keys.
func (ks *Keys) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.order)
}

// Get returns the key with id kid.
func (ks *Keys) Get(kid string) (Key, bool) {
	if ks == nil {
		return Key{}, false
	}
	k, ok := ks.byID[kid]
	return k, ok
}

// IDs lists the key ids in configuration order.
func (ks *Keys) IDs() []string {
	if ks == nil {
		return nil
	}
	return append([]string(nil), ks.order...)
}

// ParseKeys reads a key list. Entries are separated by commas or newlines;
// each is `kid:ALG:source`:
//
//	HS256  source is the secret itself (at least 32 bytes), `base64:<value>`
//	       (standard or URL alphabet) or `file:<path>` (file holds the secret)
//	RS256  source is `file:<path>` (or a bare path) of a PEM public key
//	ES256  likewise, a P-256 PEM public key
//
// Example: `k2026:RS256:file:/etc/nudge/shop-2026.pem,k2025:HS256:base64:3q2+7w…`.
// Errors name the entry (by position and kid), never the secret.
func ParseKeys(spec string) (*Keys, error) {
	var keys []Key
	var errs []error
	n := 0
	for _, raw := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		n++
		k, err := parseEntry(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", n, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewKeys(keys...)
}

func parseEntry(entry string) (Key, error) {
	parts := strings.SplitN(entry, ":", 3)
	if len(parts) != 3 {
		return Key{}, errors.New("must be kid:ALG:source (ALG one of HS256, RS256, ES256)")
	}
	kid, alg, src := strings.TrimSpace(parts[0]), strings.ToUpper(strings.TrimSpace(parts[1])), strings.TrimSpace(parts[2])
	if err := checkKid(kid); err != nil {
		return Key{}, err
	}
	switch alg {
	case HS256:
		secret, err := secretFrom(src)
		if err != nil {
			return Key{}, fmt.Errorf("key %q: %w", kid, err)
		}
		return NewHS256Key(kid, secret)
	case RS256, ES256:
		path := strings.TrimPrefix(src, "file:")
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return Key{}, fmt.Errorf("key %q: cannot read PEM file %s: %v", kid, path, err)
		}
		var pub any
		if alg == RS256 {
			pub, err = jwt.ParseRSAPublicKeyFromPEM(pemBytes)
		} else {
			pub, err = jwt.ParseECPublicKeyFromPEM(pemBytes)
		}
		if err != nil {
			return Key{}, fmt.Errorf("key %q: %s is not a PEM %s public key: %v", kid, path, alg, err)
		}
		return NewPublicKey(kid, pub)
	default:
		return Key{}, fmt.Errorf("key %q: algorithm %q is not one of HS256, RS256, ES256", kid, parts[1])
	}
}

func secretFrom(src string) ([]byte, error) {
	switch {
	case strings.HasPrefix(src, "base64:"):
		v := strings.TrimPrefix(src, "base64:")
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(v); err == nil {
				return b, nil
			}
		}
		return nil, errors.New("secret after base64: is not valid base64")
	case strings.HasPrefix(src, "file:"):
		path := strings.TrimPrefix(src, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read secret file %s: %v", path, err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	default:
		return []byte(src), nil
	}
}

// Claims are the claims Nudge reads from a deep-link token.
type Claims struct {
	jwt.RegisteredClaims
	// Topics the customer agrees to: "service" and/or "marketing".
	Topics []string `json:"topics"`
	Name   string   `json:"name,omitempty"`
	Locale string   `json:"locale,omitempty"`
	TZ     string   `json:"tz,omitempty"`
}

var localeRE = regexp.MustCompile(`^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$`)

// Validate checks the Nudge-specific claims; the parser calls it after the
// registered claims.
func (c *Claims) Validate() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: sub (the customer id)", jwt.ErrTokenRequiredClaimMissing)
	}
	if len(c.Subject) > 255 {
		return fmt.Errorf("%w: sub is longer than 255 characters", jwt.ErrTokenInvalidSubject)
	}
	if c.ID == "" {
		return fmt.Errorf("%w: jti", jwt.ErrTokenRequiredClaimMissing)
	}
	if len(c.ID) > 255 {
		return fmt.Errorf("%w: jti is longer than 255 characters", jwt.ErrTokenInvalidId)
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("%w: topics", jwt.ErrTokenRequiredClaimMissing)
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if t != "service" && t != "marketing" {
			return fmt.Errorf("%w: topic %q is not service or marketing", jwt.ErrTokenInvalidClaims, t)
		}
		if seen[t] {
			return fmt.Errorf("%w: topic %q appears twice", jwt.ErrTokenInvalidClaims, t)
		}
		seen[t] = true
	}
	if len(c.Name) > 200 {
		return fmt.Errorf("%w: name is longer than 200 characters", jwt.ErrTokenInvalidClaims)
	}
	if c.Locale != "" && !localeRE.MatchString(c.Locale) {
		return fmt.Errorf("%w: locale %q is not a language tag", jwt.ErrTokenInvalidClaims, c.Locale)
	}
	if c.TZ != "" {
		if _, err := time.LoadLocation(c.TZ); err != nil || c.TZ == "Local" || len(c.TZ) > 64 {
			return fmt.Errorf("%w: tz %q is not an IANA time zone", jwt.ErrTokenInvalidClaims, c.TZ)
		}
	}
	return nil
}

// Reason is why a token was refused.
type Reason string

const (
	ReasonMalformed    Reason = "malformed"
	ReasonUnknownKey   Reason = "unknown_key"
	ReasonAlgorithm    Reason = "algorithm_not_allowed"
	ReasonSignature    Reason = "bad_signature"
	ReasonExpired      Reason = "expired"
	ReasonNotYetValid  Reason = "not_yet_valid"
	ReasonAudience     Reason = "wrong_audience"
	ReasonIssuer       Reason = "wrong_issuer"
	ReasonMissingClaim Reason = "missing_claim"
	ReasonInvalidClaim Reason = "invalid_claim"
	ReasonReplayed     Reason = "replayed" // set by the consent package
	ReasonNoKeys       Reason = "no_keys"
)

// Error is a refused token.
type Error struct {
	Reason Reason
	Detail string // safe to show: never contains key material
	Err    error
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("token refused (%s): %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("token refused (%s)", e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a refused-token error, "" for other errors.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Verifier checks tokens against the key set, audience and issuer.
type Verifier struct {
	keys     *Keys
	audience string
	issuer   string
	leeway   time.Duration
	now      func() time.Time
}

// NewVerifier returns a verifier. audience and issuer must be non-empty:
// every token must name both. now is the clock (nil = time.Now); leeway
// tolerates clock skew between the shop and Nudge on exp and nbf.
func NewVerifier(keys *Keys, audience, issuer string, leeway time.Duration, now func() time.Time) *Verifier {
	return &Verifier{keys: keys, audience: audience, issuer: issuer, leeway: leeway, now: clock.NowOr(now)}
}

// Issuer is the issuer tokens must name.
func (v *Verifier) Issuer() string { return v.issuer }

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// Verify checks token and returns its claims, or an *Error.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if v.keys.Len() == 0 {
		return nil, &Error{Reason: ReasonNoKeys, Detail: "no signing keys are configured"}
	}
	if len(token) > MaxTokenLen {
		return nil, &Error{Reason: ReasonMalformed, Detail: "token is too long"}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, &Error{Reason: ReasonMalformed, Detail: "a token has three dot-separated parts"}
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Detail: "header is not base64url", Err: err}
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Detail: "header is not JSON", Err: err}
	}
	var key Key
	switch {
	case h.Kid != "":
		k, ok := v.keys.Get(h.Kid)
		if !ok {
			return nil, &Error{Reason: ReasonUnknownKey, Detail: fmt.Sprintf("no key with id %q is configured", h.Kid)}
		}
		key = k
	case v.keys.Len() == 1:
		key, _ = v.keys.Get(v.keys.order[0])
	default:
		return nil, &Error{Reason: ReasonUnknownKey, Detail: "the token has no kid header and several keys are configured"}
	}
	if h.Alg != key.Alg {
		return nil, &Error{Reason: ReasonAlgorithm, Detail: fmt.Sprintf("key %q accepts only %s, the token says %q", key.ID, key.Alg, h.Alg)}
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{key.Alg}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(v.audience),
		jwt.WithIssuer(v.issuer),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	c := &Claims{}
	_, err = p.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != key.Alg {
			return nil, fmt.Errorf("algorithm %s not allowed for key %q", t.Method.Alg(), key.ID)
		}
		return key.verify, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return c, nil
}

// refusals maps the parser's errors to reasons. Order matters: a token can
// fail several checks; the first entry it matches, the most basic, wins.
// With claim, the detail goes on with the claim's part of the error.
var refusals = []struct {
	errs   []error
	reason Reason
	detail string
	claim  bool
}{
	{[]error{jwt.ErrTokenMalformed}, ReasonMalformed, "the token cannot be decoded", false},
	{[]error{jwt.ErrTokenSignatureInvalid}, ReasonSignature, "the signature does not match the key", false},
	{[]error{jwt.ErrTokenUnverifiable}, ReasonAlgorithm, "the token's algorithm is not allowed for its key", false},
	{[]error{jwt.ErrTokenRequiredClaimMissing}, ReasonMissingClaim, "a required claim is missing: ", true},
	{[]error{jwt.ErrTokenInvalidAudience}, ReasonAudience, "the token is meant for another audience", false},
	{[]error{jwt.ErrTokenInvalidIssuer}, ReasonIssuer, "the token comes from another issuer", false},
	{[]error{jwt.ErrTokenExpired}, ReasonExpired, "the link has expired", false},
	{[]error{jwt.ErrTokenNotValidYet}, ReasonNotYetValid, "the link is not valid yet", false},
	{[]error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId}, ReasonInvalidClaim, "a claim is invalid: ", true},
}

func classify(err error) *Error {
	for _, r := range refusals {
		for _, e := range r.errs {
			if !errors.Is(err, e) {
				continue
			}
			detail := r.detail
			if r.claim {
				detail += claimDetail(err)
			}
			return &Error{Reason: r.reason, Detail: detail, Err: err}
		}
	}
	return &Error{Reason: ReasonMalformed, Detail: "the token cannot be verified", Err: err}
}

// claimDetail keeps the claim-specific part of a parser error (our own
// Validate messages name the claim; they never hold key material).
func claimDetail(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		msg = msg[i+2:]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
