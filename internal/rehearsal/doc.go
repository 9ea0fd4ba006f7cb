// Package rehearsal holds the deployment rehearsal (rehearsal_test.go): the
// real binaries as separate OS processes, configured only by environment as
// the README says, behind a TLS reverse proxy that is their public
// NUDGE_BASE_URL, with the provider fakes in their own process
// (cmd/nudge-fakes), driven through HTTP alone. It has no code of its own.
package rehearsal
