package subscribers_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestImportRaceWithWriter holds a writer's transaction open on an external
// id or an address the file has, so the import resolves the batch without
// seeing it and its plain insert waits on the writer's uncommitted row; the
// writer then commits. The import must take the conflict-tolerant path: the
// taken external id becomes an update of the writer's subscriber, the row
// with the taken address is rejected and named, and everything else is
// imported.
func TestImportRaceWithWriter(t *testing.T) {
	t.Parallel()
	const file = "external_id,name,phone\nc-1,A,+79990000001\nc-2,B,+79990000002\nc-3,C,+79990000003\n"
	for _, tc := range []struct {
		name   string
		writer []string // statements of the writer's transaction
		want   func(subscribers.Report) bool
		check  string // a query that must return true afterwards
	}{{
		name:   "external id",
		writer: []string{`INSERT INTO subscribers (external_id, name) VALUES ('c-2', 'Writer')`},
		want:   func(r subscribers.Report) bool { return r.Imported == 2 && r.Updated == 1 && r.Rejected == 0 },
		check: `SELECT (SELECT count(*) FROM subscribers) = 3
		           AND (SELECT name FROM subscribers WHERE external_id = 'c-2') = 'B'
		           AND (SELECT count(*) FROM channel_identities ci JOIN subscribers s ON s.id = ci.subscriber_id
		                 WHERE s.external_id = 'c-2' AND ci.address = '+79990000002') = 2`,
	}, {
		name: "address",
		writer: []string{`WITH s AS (INSERT INTO subscribers (external_id) VALUES ('w-1') RETURNING id)
		                  INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'sms', '+79990000002' FROM s`},
		want: func(r subscribers.Report) bool {
			return r.Imported == 2 && r.Rejected == 1 && len(r.Errors) == 1 && r.Errors[0].Line == 3 && r.Errors[0].Field == "phone"
		},
		check: `SELECT (SELECT s.external_id FROM channel_identities ci JOIN subscribers s ON s.id = ci.subscriber_id
		                 WHERE ci.channel = 'sms' AND ci.address = '+79990000002') = 'w-1'
		           AND NOT EXISTS (SELECT 1 FROM subscribers WHERE external_id = 'c-2')
		           AND (SELECT count(*) FROM channel_identities) = 5`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			writer, err := b.db.BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Rollback() //nolint:errcheck // committed below
			for _, q := range tc.writer {
				writer.MustExecContext(ctx, q)
			}
			type result struct {
				rep subscribers.Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := subscribers.NewImporter(b.db, b.clock.Now).Import(ctx, strings.NewReader(file), subscribers.ImportOptions{})
				done <- result{rep, err}
			}()
			// Wait until the import waits on the writer's row.
			for waiting := false; !waiting; {
				select {
				case r := <-done:
					t.Fatalf("the import finished without waiting for the writer: %s, %v", r.rep.Summary(), r.err)
				case <-time.After(20 * time.Millisecond):
				}
				if err := b.db.GetContext(ctx, &waiting, `SELECT count(*) > 0 FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
					t.Fatal(err)
				}
			}
			if err := writer.Commit(); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || !tc.want(r.rep) {
				t.Fatalf("%s, errors %+v, err %v", r.rep.Summary(), r.rep.Errors, r.err)
			}
			var ok bool
			if err := b.db.GetContext(ctx, &ok, tc.check); err != nil || !ok {
				t.Fatalf("store after the race: %v, %v", ok, err)
			}
		})
	}
}

// TestImportBoundAddress imports rows whose address is already bound to
// another subscriber: a new row (found when its plain insert fails, then
// checked) and a row of an existing subscriber (checked before anything is
// written). Both are rejected by line and column; the other rows of their
// batch are imported.
func TestImportBoundAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if rep := importFile(t, b, subscribers.CSV, []byte("external_id,phone,email\nx-1,+79990000005,x1@example.com\nx-2,,\n"), 0); rep.Imported != 2 {
		t.Fatalf("setup: %s", rep.Summary())
	}
	file := "external_id,name,phone,email\n" +
		"c-1,A,+79990000001,\n" +
		"c-2,B,+79990000005,\n" + // x-1's phone
		"x-2,X,,x1@example.com\n" + // x-1's email on an existing subscriber
		"c-3,C,,c3@example.com\n"
	for _, batch := range []int{0, 2} {
		rep := importFile(t, b, subscribers.CSV, []byte(file), batch)
		got := fmt.Sprint(rep.Errors)
		if rep.Rejected != 2 || len(rep.Errors) != 2 || rep.Errors[0].Line != 3 || rep.Errors[0].Field != "phone" ||
			rep.Errors[1].Line != 4 || rep.Errors[1].Field != "email" {
			t.Fatalf("batch %d: %s %s", batch, rep.Summary(), got)
		}
		if batch == 0 && rep.Imported != 2 || batch == 2 && rep.Unchanged != 2 {
			t.Fatalf("batch %d: %s", batch, rep.Summary())
		}
	}
	var ok bool
	if err := b.db.Get(&ok, `SELECT NOT EXISTS (SELECT 1 FROM subscribers WHERE external_id = 'c-2')
		AND (SELECT name FROM subscribers WHERE external_id = 'x-2') = ''
		AND (SELECT count(*) FROM channel_identities ci JOIN subscribers s ON s.id = ci.subscriber_id WHERE s.external_id = 'x-1') = 3
		AND (SELECT count(*) FROM channel_identities) = 6`); err != nil || !ok {
		t.Fatalf("store: %v %v", ok, err)
	}
}
