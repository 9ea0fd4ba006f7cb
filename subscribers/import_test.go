package subscribers_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/subscribers"
)

func importFile(t *testing.T, b bundle, format subscribers.Format, data []byte, batch int) subscribers.Report {
	t.Helper()
	im := subscribers.NewImporter(b.db, b.clock.Now)
	rep, err := im.Import(context.Background(), bytes.NewReader(data), subscribers.ImportOptions{Format: format, BatchSize: batch})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

func TestImportMalformedCSV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data, err := os.ReadFile("testdata/malformed.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{2, 0} { // tiny batches, then the default: same outcome
		rep := importFile(t, b, subscribers.CSV, data, batch)
		var got []string
		for _, e := range rep.Errors {
			got = append(got, fmt.Sprintf("%d %s", e.Line, e.Field))
		}
		want := []string{"3 time_zone", "4 phone", "6 email", "7 ", "8 consent_proof", "9 phone", "11 "}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("batch %d: rejected %v, want %v\n%+v", batch, got, want, rep.Errors)
		}
		if rep.Rejected != 7 || rep.Rows != 11 {
			t.Fatalf("batch %d: report %+v", batch, rep)
		}
		if batch == 2 && (rep.Imported != 4 || rep.Updated != 0) {
			t.Fatalf("first run: %s", rep.Summary())
		}
		if batch == 0 && (rep.Imported != 0 || rep.Updated != 0 || rep.Unchanged != 4) {
			t.Fatalf("re-run changed something: %s", rep.Summary())
		}
	}
	ctx := context.Background()
	s, err := b.store.Get(ctx, "c-4")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != `Dmitry "Dima"` || s.TimeZone != "Europe/London" || s.Attributes["plan"] != "weekly" || len(s.Identities) != 3 {
		t.Fatalf("c-4 = %+v", s)
	}
	// Consent: c-1 and c-11 granted marketing with proof, c-4 revoked, nobody else has any.
	type row struct {
		Ext     string `db:"external_id"`
		Topic   string `db:"topic"`
		Granted bool   `db:"granted"`
		Source  string `db:"source"`
		Proof   string `db:"proof"`
	}
	var rows []row
	if err := b.db.Select(&rows, `SELECT s.external_id, c.topic, c.granted, c.source, c.proof::text
		FROM consent_events c JOIN subscribers s ON s.id = c.subscriber_id ORDER BY s.external_id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("consent rows = %+v", rows)
	}
	if r := rows[0]; r.Ext != "c-1" || !r.Granted || r.Topic != "marketing" || r.Source != "import" ||
		!strings.Contains(r.Proof, `"consented_at": "2026-02-01T07:00:00Z"`) || !strings.Contains(r.Proof, `Checkbox \"Send me offers\"`) {
		t.Fatalf("c-1 consent = %+v", r)
	}
	if r := rows[2]; r.Ext != "c-4" || r.Granted {
		t.Fatalf("c-4 consent = %+v", r)
	}
}

func TestImportTXT(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data := []byte("# newsletter list\n+7 999 000-00-01\n\nanna@example.com\nnot a phone\n+79990000001\r\nANNA@example.com\n")
	rep := importFile(t, b, subscribers.TXT, data, 0)
	if rep.Imported != 2 || rep.Rejected != 1 || rep.Unchanged != 2 || rep.Errors[0].Line != 5 {
		t.Fatalf("report %+v", rep)
	}
	rep = importFile(t, b, subscribers.TXT, data, 0)
	if rep.Imported != 0 || rep.Updated != 0 || rep.Unchanged != 4 || rep.Rejected != 1 {
		t.Fatalf("re-run %+v", rep)
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM channel_identities`)
	if n != 3 { // phone as whatsapp and sms, one email
		t.Fatalf("%d identities", n)
	}
}

func TestImportUpdatesExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := "external_id,name,attr.plan\nc-1,Анна,weekly\nc-2,Борис,daily\n"
	if rep := importFile(t, b, subscribers.CSV, []byte(first), 0); rep.Imported != 2 {
		t.Fatalf("%+v", rep)
	}
	second := "external_id,attr.plan,telegram\nc-1,monthly,\nc-2,daily,\nc-3,daily,77\n"
	rep := importFile(t, b, subscribers.CSV, []byte(second), 0)
	if rep.Imported != 1 || rep.Updated != 1 || rep.Unchanged != 1 {
		t.Fatalf("%s", rep.Summary())
	}
	s, _ := b.store.Get(context.Background(), "c-1")
	if s.Name != "Анна" || s.Attributes["plan"] != "monthly" {
		t.Fatalf("c-1 = %+v", s)
	}
	// Two rows with the same external_id: both rejected, each naming the other.
	rep = importFile(t, b, subscribers.CSV, []byte("external_id,name\nc-1,A\nc-2,B\nc-1,C\n"), 0)
	s, _ = b.store.Get(context.Background(), "c-1")
	if s.Name != "Анна" || rep.Rejected != 2 || rep.Updated != 1 || len(rep.Errors) != 2 ||
		!strings.Contains(rep.Errors[0].Reason, "also on line 4") || !strings.Contains(rep.Errors[1].Reason, "also on line 2") {
		t.Fatalf("%s %+v; c-1 = %+v", rep.Summary(), rep.Errors, s)
	}
}

func TestImportBadHeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := subscribers.NewImporter(b.db, b.clock.Now)
	for _, data := range []string{
		"",
		"name,locale\nA,ru\n",
		"external_id,shoe_size\n1,42\n",
		"external_id,consent_marketing\n1,true\n",
		"external_id,external_id\n1,1\n",
		"external_id\n" + strings.Repeat("x", subscribers.MaxImportLine+10) + "\n",
	} {
		_, err := im.Import(context.Background(), strings.NewReader(data), subscribers.ImportOptions{})
		if err == nil {
			t.Errorf("%.40q: no error", data)
		}
	}
}

func TestImportConcurrentSameFile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var data bytes.Buffer
	data.WriteString("external_id,phone,attr.plan\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&data, "c-%d,+7999%07d,weekly\n", i, i)
	}
	im := subscribers.NewImporter(b.db, b.clock.Now)
	reps := make([]subscribers.Report, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = im.Import(context.Background(), bytes.NewReader(data.Bytes()), subscribers.ImportOptions{BatchSize: 500})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("import %d: %v", i, err)
		}
		if reps[i].Rejected != 0 {
			t.Fatalf("import %d: %d rejected, first %+v", i, reps[i].Rejected, reps[i].Errors[0])
		}
	}
	if got := reps[0].Imported + reps[1].Imported; got != 3000 {
		t.Fatalf("imported %d in total: %s / %s", got, reps[0].Summary(), reps[1].Summary())
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM channel_identities`)
	if n != 6000 {
		t.Fatalf("%d identities", n)
	}
}
