// Package apikeys authenticates the shop's backend on the /v1 API.
//
// A key is "nk_" followed by 32 random bytes in unpadded base64url. It is
// printed once by `nudge apikeys create`; the database keeps only its SHA-256
// and a short non-secret prefix that finds the row, after which the hashes
// are compared in constant time. Keys are revoked, never deleted, so the
// audit trail (created, last used, revoked) stays.
package apikeys
