// Package archtest checks the shape of the code base rather than its
// behaviour: which package writes which table, and who calls a provider's
// Send. The rules live in its tests; this package holds the scanner they use,
// so the scanner itself is tested on snippets.
package archtest
