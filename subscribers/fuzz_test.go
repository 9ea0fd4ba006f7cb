package subscribers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

var fuzzHeader = []string{"external_id", "name", "locale", "time_zone", "phone", "email", "telegram", "viber",
	"messenger", "vk", "attr.plan", "consent_marketing", "consent_service", "consent_source", "consent_at", "consent_proof"}

// FuzzCSVRow feeds arbitrary records (fields joined by \x1f) through the row
// parser: it must never panic, and an accepted row must hold only valid data.
func FuzzCSVRow(f *testing.F) {
	f.Add("c-1\x1fАнна\x1fru\x1fEurope/Moscow\x1f+79990000001\x1fa@b.ru\x1f1001\x1fv1\x1fpsid\x1f5\x1fweekly\x1ftrue\x1f\x1fcheckout\x1f2026-01-01\x1fbox v3")
	f.Add("\x1f\x1f\x1f\x1f8 999 000\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f")
	f.Add("c-2")
	f.Add("x\x1f\x00\x1f..\x1f../../etc/passwd\x1f00 44 20\x1f@\x1f-0\x1f \x1f\x1f\x1f\x1fyes\x1fno\x1f\x1f2026-13-40\x1f")
	cols, err := parseHeader(fuzzHeader)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		rec := strings.Split(joined, "\x1f")
		row, rerr := parseCSVRow(cols, rec, 2)
		if rerr != nil {
			if rerr.Line != 2 || rerr.Reason == "" {
				t.Fatalf("bad error %+v", rerr)
			}
			return
		}
		if row.externalID == "" && len(row.ids) == 0 {
			t.Fatal("accepted a row without a key")
		}
		for _, id := range row.ids {
			if a, err := NormalizeAddress(id.Channel, id.Address); err != nil || a != id.Address {
				t.Fatalf("accepted address %q for %s is not canonical: %v", id.Address, id.Channel, err)
			}
		}
		if row.timeZone != nil {
			if err := ValidTimeZone("tz", *row.timeZone); err != nil {
				t.Fatal(err)
			}
		}
		_ = row.attrsJSON()
		_ = row.proofJSON()
	})
}

// FuzzHeader: arbitrary header rows never panic.
func FuzzHeader(f *testing.F) {
	f.Add("external_id,phone,attr.plan")
	f.Add("\ufeffExternal_ID , EMAIL")
	f.Add("consent_marketing,phone")
	f.Fuzz(func(t *testing.T, h string) {
		_, _ = parseHeader(strings.Split(h, ","))
	})
}

// FuzzTXTLine: one line of a TXT import.
func FuzzTXTLine(f *testing.F) {
	for _, s := range []string{"+79990000001", "anna@example.com", "# comment", "", "8 (999) 000-00-01", "\ufeff+44 20 7946 0000", "a@b", "@@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		row, ok, rerr := parseTXTLine(s, 7)
		if ok && (rerr != nil || len(row.ids) == 0) {
			t.Fatalf("ok with %v / %v", rerr, row.ids)
		}
		if rerr != nil && rerr.Line != 7 {
			t.Fatal("wrong line")
		}
	})
}

// fuzzDecode fuzzes decode, the body decoder of POST path, seeded with
// seeds: any body ends in a value or an error that names a status, never a
// panic; check sees each value decode accepts.
func fuzzDecode[T any](f *testing.F, path string, decode func(http.ResponseWriter, *http.Request, int64) (T, error), seeds []string, check func(*testing.T, T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		v, err := decode(httptest.NewRecorder(), r, 1<<16)
		if err != nil {
			return
		}
		check(t, v)
	})
}

// FuzzDecodeUpsert: the API body decode and validation of POST /v1/subscribers.
func FuzzDecodeUpsert(f *testing.F) {
	fuzzDecode(f, "/v1/subscribers", decodeUpsert, []string{
		`{"external_id":"c-1","name":"Анна","locale":"ru","time_zone":"Europe/Moscow","attributes":{"plan":"weekly","n":1,"x":null},"identities":[{"channel":"telegram","address":"1"},{"channel":"whatsapp","address":"+79990000001"}]}`,
		`{"external_id":"c-1","identities":[{"channel":"email","address":"a@b.c"},{"channel":"email","address":"A@B.C"}]}`,
		`{"external_id":""}`, `[]`, `null`, `{"external_id":"x","time_zone":"../../../../etc/passwd"}`,
		`{"external_id":"x","attributes":{"":1}}`, `{"external_id":"x","identities":[null]}`, `{"external_id":"x"} trailing`,
	}, func(t *testing.T, in Input) {
		if in.ExternalID == "" {
			t.Fatal("accepted an empty external_id")
		}
		for i, id := range in.Identities {
			if a, err := NormalizeAddress(id.Channel, id.Address); err != nil || a != id.Address {
				t.Fatalf("identities[%d] %+v not canonical after validation", i, id)
			}
		}
	})
}

// FuzzDecodeEvents: the batch events body and per-item validation.
func FuzzDecodeEvents(f *testing.F) {
	fuzzDecode(f, "/v1/events", decodeEvents, []string{
		`{"events":[{"external_id":"c-1","name":"order.delivered","occurred_at":"2026-03-01T10:00:00Z","payload":{"a":1},"idempotency_key":"k"}]}`,
		`{"events":[]}`, `{"events":null}`, `{"events":[{"name":"x","occurred_at":"0001-01-01T00:00:00Z"}]}`, `{"events":[{}]}`,
	}, func(t *testing.T, evs []Event) {
		for i := range evs {
			_ = evs[i].Validate("events[0].")
		}
	})
}

// FuzzListQuery: query strings of GET /v1/subscribers.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"limit=10&attr.plan=weekly&channel=telegram", "cursor=czE6MTA", "created_after=2026-01-01T00:00:00Z&limit=0", "attr.=x&attr.a%20b=1", "locale=ru&locale=en"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		fl, err := parseFilter(v)
		if err == nil && (fl.Limit < 1 || fl.Limit > MaxPage) {
			t.Fatalf("accepted limit %d", fl.Limit)
		}
	})
}

// FuzzImportCSV runs whole files through the CSV reader and row parser (the
// COPY is replaced by a check that every staged row is valid and keyed, and
// comes after the row staged before it).
func FuzzImportCSV(f *testing.F) {
	f.Add("external_id,phone\nc-1,+79990000001\n")
	f.Add("external_id,name\n\"unterminated,1\n")
	f.Add("external_id,name\nc-1,\"open\nc-2,x\"\n")
	f.Add("\ufeffphone\n+7 999\n\n\"a\"\"b\"\n")
	f.Add("external_id;attr.note;name\r\nc-1;\"a;\nb\";x\r\nc-2;\"c\nc-3;d;e\";y\r\n")
	f.Add("external_id,phone,email\nc-1,+79990000001,\nc-1,,a@b.ru\n,+79990000001,\nc-2,,a@b.ru\n")
	f.Fuzz(func(t *testing.T, data string) {
		written, last := 0, 0
		run := &importRun{opt: ImportOptions{Format: CSV, KeepErrors: 10}}
		run.emit = func(_ context.Context, r importRow) error { // stands in for the COPY
			if r.line < 2 || (r.externalID == "" && len(r.ids) == 0) {
				t.Fatalf("staged bad row %+v", r)
			}
			if r.line <= last { // rows are parsed in parallel and staged in file order
				t.Fatalf("staged line %d after line %d", r.line, last)
			}
			written, last = written+1, r.line
			return nil
		}
		if err := run.read(t.Context(), strings.NewReader(data)); err != nil {
			var re *RowError
			var le *LineTooLongError
			if !errors.As(err, &re) && !errors.As(err, &le) {
				t.Fatalf("file error of type %T: %v", err, err)
			}
			return
		}
		for _, e := range run.rep.Errors {
			if e.Line < 1 || e.Reason == "" {
				t.Fatalf("bad rejection %+v", e)
			}
		}
		if run.rep.Rows != written+run.rep.Rejected {
			t.Fatalf("rows %d != written %d + rejected %d", run.rep.Rows, written, run.rep.Rejected)
		}
	})
}

// TestReadCSVKeepsFileOrder reads a file of many parse chunks, with bad rows
// among the good ones, through the parallel parsers: every row is staged or
// rejected once, in file order, and a staging error stops the read.
func TestReadCSVKeepsFileOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("external_id,phone\n")
	const rows = 10 * parseChunk
	for i := range rows {
		if i%7 == 3 {
			fmt.Fprintf(&b, "c-%d,not a phone\n", i)
		} else {
			fmt.Fprintf(&b, "c-%d,+7999%07d\n", i, i)
		}
	}
	var lines []int
	run := &importRun{opt: ImportOptions{Format: CSV, KeepErrors: -1, OnReject: func(e RowError) { lines = append(lines, e.Line) }}}
	run.emit = func(_ context.Context, r importRow) error {
		if want := fmt.Sprintf("c-%d", r.line-2); r.externalID != want {
			t.Fatalf("line %d holds %s, want %s", r.line, r.externalID, want)
		}
		lines = append(lines, r.line)
		return nil
	}
	if err := run.read(t.Context(), strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	if len(lines) != rows || run.rep.Rows != rows || run.rep.Rejected != (rows+3)/7 {
		t.Fatalf("%d rows handed on, report %+v", len(lines), run.rep)
	}
	for i, l := range lines {
		if l != i+2 {
			t.Fatalf("row %d handed on as line %d", i, l)
		}
	}
	stop := errors.New("copy failed")
	run = &importRun{opt: ImportOptions{Format: CSV}}
	run.emit = func(_ context.Context, r importRow) error {
		if r.line == 1000 {
			return stop
		}
		return nil
	}
	if err := run.read(t.Context(), strings.NewReader(b.String())); !errors.Is(err, stop) || run.rep.Rows > 1000 {
		t.Fatalf("err %v after %d rows", err, run.rep.Rows)
	}
}
