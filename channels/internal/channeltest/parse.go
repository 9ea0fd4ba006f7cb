package channeltest

import (
	"bytes"
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

// Fields are the parts of an event a fixture table compares.
type Fields struct {
	Type                                   channels.EventType
	From, Locale, Text, Payload, Code      string
	MessageID, EventID, Correlation, Error string // ProviderMessageID, ProviderEventID, Correlation, ErrorMessage
}

// FieldsOf is what a fixture table compares of e.
func FieldsOf(e channels.Event) Fields {
	return Fields{Type: e.Type, From: e.From, Locale: e.Locale, Text: e.Text, Payload: e.Payload, Code: e.Code,
		MessageID: e.ProviderMessageID, EventID: e.ProviderEventID, Correlation: e.Correlation, Error: e.ErrorMessage}
}

// Fixture is one case of a parse table: the fixture File parses to no
// event when Want.Type is "", else to one event whose Fields are Want.
type Fixture struct {
	File string
	Want Fields
}

// ParseFixtures checks what parse makes of each case's fixture
// (FixtureEvent): the event's Fields must be the case's Want and its Raw
// the fixture's body. more (nil: none) checks the event further, right
// after its parse.
func ParseFixtures(t testing.TB, parse func(body []byte) ([]channels.Event, error), cases []Fixture, more func(f Fixture, e channels.Event)) {
	t.Helper()
	for _, f := range cases {
		e, body, ok := FixtureEvent(t, f.File, f.Want.Type, parse)
		if !ok {
			continue
		}
		if got := FieldsOf(e); got != f.Want || !bytes.Equal(e.Raw, body) {
			t.Errorf("%s: %+v, want %+v", f.File, got, f.Want)
		}
		if more != nil {
			more(f, e)
		}
	}
}
