// Package audit owns the audit log: who (a user, an API key, or a command
// run on the server) did what, when and from where. Each state change made
// by a person or a key appends one row, in the transaction of the change
// where the change has one, so a change and its row commit together. Rows
// never hold message bodies; erasure rewrites the rows about an erased
// subscriber to their pseudonym (Pseudonymise). Admins read it on /audit
// and through GET /v1/audit.
package audit
