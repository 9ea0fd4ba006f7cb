package channeltest

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// FuzzParse fuzzes an adapter's webhook parser, seeded with the fixtures
// named from testdata (besides any seeds the caller added): parse must not
// return events together with an error, and bad (nil: none) names the
// events a parse must never return, such as one without a dedupe id.
func FuzzParse(f *testing.F, fixtures []string, parse func(body []byte) ([]channels.Event, error), bad func(channels.Event) bool) {
	f.Helper()
	for _, name := range fixtures {
		f.Add(Testdata(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := parse(body)
		if err != nil && len(evs) > 0 {
			t.Fatal("events with an error")
		}
		for _, e := range evs {
			if bad != nil && bad(e) {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

// Parsed reads the fixture file from testdata and returns the events parse
// makes of it and the fixture's body (for Raw); an error fails the test.
func Parsed(t testing.TB, file string, parse func(body []byte) ([]channels.Event, error)) ([]channels.Event, []byte) {
	t.Helper()
	body := Testdata(t, file)
	evs, err := parse(body)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return evs, body
}

// FixtureEvent checks with OneEvent what parse makes of the fixture file
// (Parsed): it returns the event, the fixture's body and whether there is
// an event to check further.
func FixtureEvent(t testing.TB, file string, typ channels.EventType, parse func(body []byte) ([]channels.Event, error)) (channels.Event, []byte, bool) {
	t.Helper()
	evs, body := Parsed(t, file, parse)
	e, ok := OneEvent(t, file, evs, typ)
	return e, body, ok
}
