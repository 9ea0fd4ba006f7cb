package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
)

// SignatureHeader carries the body signature of Meta webhooks.
const SignatureHeader = "X-Hub-Signature-256"

// MaxWebhookBody bounds a webhook body; Meta documents payloads up to 3 MB.
const MaxWebhookBody = 4 << 20

// Sign returns the X-Hub-Signature-256 value of body: "sha256=" followed by
// the hex HMAC-SHA256 keyed with the app secret.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is the valid signature of body. An empty
// secret never verifies: an unconfigured app accepts nothing.
func Verify(appSecret string, body []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Handshake answers the GET subscription check
// (?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…): the challenge
// echoed with 200 when the token matches (constant time), 403 otherwise.
func Handshake(w http.ResponseWriter, r *http.Request, verifyToken string) {
	q := r.URL.Query()
	tok := q.Get("hub.verify_token")
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" ||
		subtle.ConstantTimeCompare([]byte(tok), []byte(verifyToken)) != 1 {
		http.Error(w, "verification failed", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// ErrUnsigned and ErrBadSignature are the two ways ReadVerified refuses a
// body; the first answers 401, the second 403.
var (
	ErrUnsigned     = errors.New("missing " + SignatureHeader)
	ErrBadSignature = errors.New("bad " + SignatureHeader)
	ErrTooLarge     = errors.New("webhook body too large")
)

// ReadVerified reads the size-limited body and checks its signature before
// anything else looks at it. On failure it has already answered the request
// (401 unsigned, 403 bad signature, 413 too large) and returns the reason.
func ReadVerified(w http.ResponseWriter, r *http.Request, appSecret string) ([]byte, error) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		http.Error(w, ErrUnsigned.Error(), http.StatusUnauthorized)
		return nil, ErrUnsigned
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			http.Error(w, ErrTooLarge.Error(), http.StatusRequestEntityTooLarge)
			return nil, ErrTooLarge
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return nil, err
	}
	if !Verify(appSecret, body, sig) {
		http.Error(w, ErrBadSignature.Error(), http.StatusForbidden)
		return nil, ErrBadSignature
	}
	return body, nil
}
