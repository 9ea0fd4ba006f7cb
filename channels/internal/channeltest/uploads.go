package channeltest

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// Upload is one file of a media table: a user sends Data, typed MIME and
// named Name, as the provider's Type of message with Caption, and it must
// arrive as an attachment of Kind named Name.
type Upload struct {
	Type, Caption string
	MIME, Name    string
	Data          []byte
	Kind          channels.AttachmentKind
}

// WantUploads sends each upload through the fake's webhook with send,
// which returns the fake's reference to the file (its URL or media id),
// and fails the test unless it arrives in sink as one more text event of
// its caption carrying one attachment of its kind and name, whose
// reference (ref) is send's, and which c fetches back as the upload. It
// returns the attachments in order, for further checks.
func WantUploads(t testing.TB, sink *Sink, c Fetcher, uploads []Upload, send func(Upload) (string, error), ref func(channels.Attachment) string) []channels.Attachment {
	t.Helper()
	var out []channels.Attachment
	for _, u := range uploads {
		before := len(sink.Events())
		sent, err := send(u)
		if err != nil {
			t.Fatalf("%s webhook: %v", u.Type, err)
		}
		evs := sink.Events()
		if len(evs) != before+1 {
			t.Fatalf("events after %s: %+v", u.Type, evs[before:])
		}
		e := evs[before]
		if e.Type != channels.EventText || e.Text != u.Caption || len(e.Attachments) != 1 {
			t.Fatalf("%s event %+v", u.Type, e)
		}
		a := e.Attachments[0]
		if a.Kind != u.Kind || a.Name != u.Name || ref(a) != sent {
			t.Errorf("%s attachment %+v", u.Type, a)
		}
		WantFile(t, c, a, u.Data, u.MIME, u.Name)
		out = append(out, a)
	}
	return out
}
