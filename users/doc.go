// Package users owns the accounts of people (admins, marketers, managers,
// viewers): bcrypt password hashes, server-side sessions (only a hash of the
// cookie token is stored), the CSRF synchroniser token of each session, login
// throttling, and access: the roles, the named actions a route lets its
// caller do and Role.Can (roles.go), the Actor of a request (a session's
// user or an API key) and Require, the one role check every route passes.
package users
