package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
)

var (
	ErrNotFound     = errors.New("users: not found")
	ErrExists       = errors.New("users: email already registered")
	ErrBadLogin     = errors.New("users: wrong email or password")
	ErrThrottled    = errors.New("users: too many failed logins, try again later")
	ErrWeakPassword = errors.New("users: password must be at least 10 characters")
	ErrInvalidEmail = errors.New("users: invalid email address")
	ErrInvalidRole  = errors.New("users: role must be admin, marketer, manager or viewer")
	ErrNoSession    = errors.New("users: no valid session")
)

// User is an account.
type User struct {
	ID    int64  `db:"id"`
	Email string `db:"email"`
	Role  Role   `db:"role"`
	// Queues are the inbox queues of a manager; empty = every queue.
	Queues    pq.StringArray `db:"queues"`
	CreatedAt time.Time      `db:"created_at"`
}

// Session is a signed-in user with the CSRF token forms must carry.
type Session struct {
	User      User
	CSRF      string
	ExpiresAt time.Time
}

// Store keeps users and sessions in Postgres.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
	// SessionTTL is how long a session lasts; FailWindow and MaxFailures throttle logins.
	SessionTTL  time.Duration
	FailWindow  time.Duration
	MaxFailures int
	cost        int
}

// NewStore returns a store; now may be nil (time.Now).
func NewStore(d *sqlx.DB, now func() time.Time) *Store {
	return &Store{db: d, now: clock.NowOr(now), SessionTTL: 12 * time.Hour, FailWindow: 15 * time.Minute, MaxFailures: 5, cost: bcrypt.DefaultCost}
}

const (
	qInsertUser  = `INSERT INTO users (email, role, password_hash, queues) VALUES ($1, $2, $3, $4) RETURNING id, email, role, queues, created_at`
	qUserByEmail = `SELECT id, email, role, queues, created_at, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL`
	qListUsers   = `SELECT id, email, role, queues, created_at FROM users WHERE disabled_at IS NULL ORDER BY email`
	qSetPassword = `UPDATE users SET password_hash = $2 WHERE email = $1 AND disabled_at IS NULL`
	qCountFails  = `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM login_failures WHERE key = ANY($1) AND at > $2 GROUP BY key) per_key`
	qAddFail     = `INSERT INTO login_failures (key, at) SELECT unnest($1::text[]), $2`
	qClearFails  = `DELETE FROM login_failures WHERE key = $1 OR at < $2`
	qNewSession  = `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`
	qSession     = `SELECT u.id, u.email, u.role, u.queues, u.created_at, s.csrf_token, s.expires_at
	                   FROM sessions s JOIN users u ON u.id = s.user_id
	                  WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`
	qDelSession = `DELETE FROM sessions WHERE token_hash = $1`
	// A changed role or queue list takes effect at the next request: the
	// session reads the user's row each time.
	qSetAccess = `UPDATE users SET role = coalesce($2, role), queues = coalesce($3, queues)
	               WHERE email = $1 AND disabled_at IS NULL
	           RETURNING id, email, role, queues, created_at`
)

func normalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", ErrInvalidEmail
	}
	return strings.ToLower(a.Address), nil
}

// RandomPassword returns a one-time password for a new account.
func RandomPassword() string { return token(15) }

func token(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the kernel's random source failing is not recoverable
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Add creates a user; queues limit a manager's inbox (nil: every queue).
func (s *Store) Add(ctx context.Context, email string, role Role, password string, queues []string) (User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if !role.Valid() {
		return User{}, ErrInvalidRole
	}
	if queues == nil {
		queues = []string{}
	}
	if len(password) < 10 {
		return User{}, ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	var u User
	err = s.db.QueryRowxContext(ctx, qInsertUser, email, role, string(h), pq.StringArray(queues)).StructScan(&u)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "23505" {
		return User{}, ErrExists
	}
	if err != nil {
		return User{}, fmt.Errorf("add user: %w", err)
	}
	return u, nil
}

// SetAccess changes a user's role and/or queues (nil leaves it as it is).
func (s *Store) SetAccess(ctx context.Context, email string, role *Role, queues []string) (User, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if role != nil && !role.Valid() {
		return User{}, ErrInvalidRole
	}
	var q any
	if queues != nil {
		q = pq.StringArray(queues)
	}
	var u User
	if err := db.Get(ctx, s.db, &u, ErrNotFound, "set access", qSetAccess, email, role, q); err != nil {
		return User{}, err
	}
	return u, nil
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, email, password string) error {
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	if len(password) < 10 {
		return ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	n, err := db.Exec(ctx, s.db, "set password", qSetPassword, email, string(h))
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// List returns active users.
func (s *Store) List(ctx context.Context) ([]User, error) {
	return db.Select[User](ctx, s.db, "list users", qListUsers)
}

// dummyHash keeps the time of a login for an unknown email close to a known one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)

// Login checks the password and opens a session, returning its cookie token.
// Failures are throttled per email and per client address.
func (s *Store) Login(ctx context.Context, email, password, client string) (string, Session, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	keys := pq.StringArray{"email:" + email, "client:" + client}
	now := s.now()
	var fails int
	if err := s.db.GetContext(ctx, &fails, qCountFails, keys, now.Add(-s.FailWindow)); err != nil {
		return "", Session{}, fmt.Errorf("count failures: %w", err)
	}
	if fails >= s.MaxFailures {
		return "", Session{}, ErrThrottled
	}
	var row struct {
		User
		Hash string `db:"password_hash"`
	}
	err := s.db.QueryRowxContext(ctx, qUserByEmail, email).StructScan(&row)
	if err != nil && !db.IsNoRows(err) {
		return "", Session{}, fmt.Errorf("find user: %w", err)
	}
	hash := []byte(row.Hash)
	if err != nil {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || row.ID == 0 {
		if _, err := s.db.ExecContext(ctx, qAddFail, keys, now); err != nil {
			return "", Session{}, fmt.Errorf("record failure: %w", err)
		}
		return "", Session{}, ErrBadLogin
	}
	if _, err := s.db.ExecContext(ctx, qClearFails, "email:"+email, now.Add(-24*time.Hour)); err != nil {
		return "", Session{}, fmt.Errorf("clear failures: %w", err)
	}
	tok := token(32)
	sess := Session{User: row.User, CSRF: token(24), ExpiresAt: now.Add(s.SessionTTL)}
	if _, err := s.db.ExecContext(ctx, qNewSession, hashToken(tok), row.ID, sess.CSRF, sess.ExpiresAt); err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return tok, sess, nil
}

// Session returns the live session for a cookie token.
func (s *Store) Session(ctx context.Context, tok string) (Session, error) {
	if tok == "" {
		return Session{}, ErrNoSession
	}
	var row struct {
		User
		CSRF      string    `db:"csrf_token"`
		ExpiresAt time.Time `db:"expires_at"`
	}
	if err := db.Get(ctx, s.db, &row, ErrNoSession, "session", qSession, hashToken(tok), s.now()); err != nil {
		return Session{}, err
	}
	return Session{User: row.User, CSRF: row.CSRF, ExpiresAt: row.ExpiresAt}, nil
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, tok string) error {
	_, err := s.db.ExecContext(ctx, qDelSession, hashToken(tok))
	return err
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}
