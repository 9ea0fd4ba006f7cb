// Package users owns manager and admin accounts: bcrypt password hashes,
// server-side sessions (only a hash of the cookie token is stored), the CSRF
// synchroniser token of each session, login throttling, and the middleware
// that puts the signed-in user on the request and enforces roles.
package users
