// Package fakekit is the plumbing the provider fakes share: a record of what
// a fake accepted, sliding rate windows, receipt plans per recipient, JSON
// answers and webhook delivery. Each fake keeps its own wire format, its
// error codes and its quirks in its own package; only what means the same
// thing for every provider lives here.
package fakekit
