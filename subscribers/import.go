package subscribers

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

// Format is an import file format.
type Format string

const (
	CSV Format = "csv" // header row, one subscriber per record
	TXT Format = "txt" // one phone number or email address per line
)

// Import limits.
const (
	DefaultImportBatch = 2000
	MaxImportLine      = 64 << 10 // bytes between two newlines
	DefaultKeptErrors  = 1000
)

// ImportOptions tune one import.
type ImportOptions struct {
	Format    Format
	BatchSize int // rows per transaction; 0 = DefaultImportBatch
	// OnReject, if set, is called for every rejected row as it is found (the
	// CLI prints them all); Report.Errors keeps only the first KeepErrors.
	OnReject   func(RowError)
	KeepErrors int // 0 = DefaultKeptErrors; < 0 = none
}

// Report is the outcome of an import.
type Report struct {
	Rows      int        `json:"rows"`      // data rows read (blank lines and comments not counted)
	Imported  int        `json:"imported"`  // new subscribers
	Updated   int        `json:"updated"`   // existing subscribers that changed
	Unchanged int        `json:"unchanged"` // existing subscribers the row already matched
	Rejected  int        `json:"rejected"`
	Errors    []RowError `json:"errors"`
	// ErrorsTruncated is true when more rows were rejected than Errors holds.
	ErrorsTruncated bool `json:"errors_truncated,omitempty"`
}

// Summary is the one-line result the CLI prints.
func (r Report) Summary() string {
	return fmt.Sprintf("imported %d, updated %d, rejected %d rows (%d unchanged)", r.Imported, r.Updated, r.Rejected, r.Unchanged)
}

// Importer streams CSV and TXT files of subscribers into the store.
type Importer struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewImporter returns an importer on d; now is the clock (nil = time.Now).
func NewImporter(d *sqlx.DB, now func() time.Time) *Importer {
	if now == nil {
		now = time.Now
	}
	return &Importer{db: d, now: now}
}

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "txt", "text":
		return TXT, nil
	}
	return "", fieldErr("format", "must be csv or txt, got %q", s)
}

// FormatOf guesses the format from a file name: .txt is TXT, anything else CSV.
func FormatOf(name string) Format {
	if strings.HasSuffix(strings.ToLower(name), ".txt") {
		return TXT
	}
	return CSV
}

// Import reads r to the end in batches, each committed in its own
// transaction. Bad rows are rejected and reported with their line number; the
// good rows are imported. Rows are upserts, so importing a file again changes
// nothing. Imported contacts get no consent unless the CSV carries
// consent_marketing / consent_service with consent_proof. The error is
// non-nil only when the import could not go on (unreadable header, I/O or
// database failure); the report then counts what was committed before.
func (im *Importer) Import(ctx context.Context, r io.Reader, opt ImportOptions) (Report, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultImportBatch
	}
	if opt.KeepErrors == 0 {
		opt.KeepErrors = DefaultKeptErrors
	}
	if opt.Format == "" {
		opt.Format = CSV
	}
	run := &importRun{im: im, opt: opt, keys: map[string]struct{}{}}
	run.write = run.flush
	lr := &lineLimitReader{r: r, max: MaxImportLine}
	var err error
	switch opt.Format {
	case CSV:
		err = run.readCSV(ctx, lr)
	case TXT:
		err = run.readTXT(ctx, lr)
	default:
		err = fieldErr("format", "must be csv or txt, got %q", opt.Format)
	}
	if err == nil {
		err = run.write(ctx)
	}
	if run.rep.Errors == nil {
		run.rep.Errors = []RowError{}
	}
	// Conflicts are found at commit time, after later lines were read.
	sort.SliceStable(run.rep.Errors, func(i, j int) bool { return run.rep.Errors[i].Line < run.rep.Errors[j].Line })
	return run.rep, err
}

type importRun struct {
	im    *Importer
	opt   ImportOptions
	rep   Report
	batch []importRow
	keys  map[string]struct{}             // external ids and identities in the batch
	write func(ctx context.Context) error // flush; replaced in parser fuzzing
}

func (run *importRun) reject(e RowError) {
	run.rep.Rejected++
	if run.opt.OnReject != nil {
		run.opt.OnReject(e)
	}
	if run.opt.KeepErrors > 0 && len(run.rep.Errors) < run.opt.KeepErrors {
		run.rep.Errors = append(run.rep.Errors, e)
	} else {
		run.rep.ErrorsTruncated = true
	}
}

// add queues a row. A batch never holds two rows with the same external id or
// the same identity (the database statements need that); such a row starts a
// new batch, so later rows of a file win over earlier ones as they would
// one by one.
func (run *importRun) add(ctx context.Context, row importRow) error {
	run.rep.Rows++
	keys := rowKeys(row)
	collide := len(run.batch) >= run.opt.BatchSize
	for _, k := range keys {
		if _, dup := run.keys[k]; dup {
			collide = true
		}
	}
	if collide {
		if err := run.write(ctx); err != nil {
			return err
		}
	}
	for _, k := range keys {
		run.keys[k] = struct{}{}
	}
	run.batch = append(run.batch, row)
	return nil
}

func rowKeys(r importRow) []string {
	keys := make([]string, 0, len(r.ids)+1)
	if r.externalID != "" {
		keys = append(keys, "x\x00"+r.externalID)
	}
	for _, id := range r.ids {
		keys = append(keys, "i\x00"+string(id.Channel)+"\x00"+id.Address)
	}
	return keys
}

func (run *importRun) readCSV(ctx context.Context, r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return &RowError{Line: 1, Reason: "the file is empty; a CSV import needs a header row"}
		}
		var lerr *LineTooLongError
		if errors.As(err, &lerr) {
			return err
		}
		return &RowError{Line: 1, Reason: fmt.Sprintf("unreadable header: %v", err)}
	}
	cols, err := parseHeader(head)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			run.rep.Rows++
			run.reject(RowError{Line: perr.StartLine, Reason: fmt.Sprintf("malformed CSV: %v", perr.Err)})
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		row, rerr := parseCSVRow(cols, rec, line)
		if rerr != nil {
			run.rep.Rows++
			run.reject(*rerr)
			continue
		}
		if err := run.add(ctx, row); err != nil {
			return err
		}
	}
}

func (run *importRun) readTXT(ctx context.Context, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxImportLine+1)
	line := 0
	for sc.Scan() {
		line++
		if line%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		row, ok, rerr := parseTXTLine(sc.Text(), line)
		if rerr != nil {
			run.rep.Rows++
			run.reject(*rerr)
			continue
		}
		if !ok {
			continue
		}
		if err := run.add(ctx, row); err != nil {
			return err
		}
	}
	return sc.Err()
}

var (
	importRowCols = []string{"ord", "line", "external_id", "name", "locale", "time_zone", "attributes", "marketing", "service"}
	importIDCols  = []string{"ord", "channel", "address"}
)

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func boolOrNil(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// flush writes the queued batch in one transaction.
func (run *importRun) flush(ctx context.Context) error {
	if len(run.batch) == 0 {
		return nil
	}
	batch := run.batch
	run.batch = run.batch[:0]
	clear(run.keys)
	now := run.im.now()
	var (
		counts struct {
			Created   int `db:"created"`
			Updated   int `db:"updated"`
			Unchanged int `db:"unchanged"`
		}
		conflicts []struct {
			Line    int    `db:"line"`
			Channel string `db:"channel"`
		}
	)
	err := db.WithTx(ctx, run.im.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, qImportTempTables); err != nil {
			return fmt.Errorf("import tables: %w", err)
		}
		if err := copyRows(ctx, tx, "import_rows", importRowCols, len(batch), func(i int) []any {
			r := &batch[i]
			var ext any
			if r.externalID != "" {
				ext = r.externalID
			}
			return []any{i, r.line, ext, strOrNil(r.name), strOrNil(r.locale), strOrNil(r.timeZone), r.attrsJSON(),
				boolOrNil(r.marketing), boolOrNil(r.service)}
		}); err != nil {
			return err
		}
		var ids [][]any
		for i, r := range batch {
			for _, id := range r.ids {
				ids = append(ids, []any{i, string(id.Channel), id.Address})
			}
		}
		if err := copyRows(ctx, tx, "import_ids", importIDCols, len(ids), func(i int) []any { return ids[i] }); err != nil {
			return err
		}
		for _, st := range []struct{ what, q string }{
			{"analyze", qImportAnalyze},
			{"resolve keyed rows", qImportResolveKeyed},
			{"resolve rows by identity", qImportResolveKeyless},
		} {
			if _, err := tx.ExecContext(ctx, st.q); err != nil {
				return fmt.Errorf("%s: %w", st.what, err)
			}
		}
		if err := tx.SelectContext(ctx, &conflicts, qImportRejectConflicts); err != nil {
			return fmt.Errorf("check identities: %w", err)
		}
		res, err := tx.ExecContext(ctx, qImportAssignIDs)
		if err != nil {
			return fmt.Errorf("import: assign ids: %w", err)
		}
		assigned, _ := res.RowsAffected()
		var inserted int64
		if err := tx.GetContext(ctx, &inserted, qImportInsertSubscribers, now); err != nil {
			return fmt.Errorf("import: insert subscribers: %w", err)
		}
		if inserted < assigned {
			if _, err := tx.ExecContext(ctx, qImportLostRaces); err != nil {
				return fmt.Errorf("import: re-resolve subscribers: %w", err)
			}
		}
		for _, st := range []struct {
			what string
			q    string
			args []any
		}{
			{"update subscribers", qImportUpdateSubscribers, []any{now}},
			{"insert identities", qImportInsertIdentities, []any{now}},
		} {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return fmt.Errorf("import: %s: %w", st.what, err)
			}
		}
		if err := importConsent(ctx, tx, batch); err != nil {
			return err
		}
		return tx.GetContext(ctx, &counts, qImportCounts)
	})
	if err != nil {
		return err
	}
	run.rep.Imported += counts.Created
	run.rep.Updated += counts.Updated
	run.rep.Unchanged += counts.Unchanged
	seen := map[int]bool{}
	for _, c := range conflicts {
		if seen[c.Line] {
			continue
		}
		seen[c.Line] = true
		run.reject(RowError{Line: c.Line, Field: columnOf(channels.Kind(c.Channel)), Reason: "this address is already bound to another subscriber"})
	}
	return nil
}

// importConsent records the batch's consent statements through
// consent.Import, once the rows know their subscribers, and marks the rows
// whose subscriber got a new event as changed.
func importConsent(ctx context.Context, tx *sqlx.Tx, batch []importRow) error {
	if !slices.ContainsFunc(batch, func(r importRow) bool { return r.marketing != nil || r.service != nil }) {
		return nil
	}
	var rows []struct {
		Ord int   `db:"ord"`
		Sub int64 `db:"subscriber_id"`
	}
	if err := tx.SelectContext(ctx, &rows, qImportConsentRows); err != nil {
		return fmt.Errorf("import: read consent rows: %w", err)
	}
	var st []consent.Imported
	for _, r := range rows {
		b := &batch[r.Ord]
		proof, _ := b.proofJSON().(string)
		for _, t := range []struct {
			topic consent.Topic
			v     *bool
		}{{consent.TopicMarketing, b.marketing}, {consent.TopicService, b.service}} {
			if t.v != nil {
				st = append(st, consent.Imported{SubscriberID: r.Sub, Topic: t.topic, Granted: *t.v, Proof: json.RawMessage(proof)})
			}
		}
	}
	changed, err := consent.Import(ctx, tx, st)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if len(changed) > 0 {
		if _, err := tx.ExecContext(ctx, qImportConsentChanged, pq.Array(changed)); err != nil {
			return fmt.Errorf("import: mark consent changes: %w", err)
		}
	}
	return nil
}

// copyRows COPYs n rows into table inside tx.
func copyRows(ctx context.Context, tx *sqlx.Tx, table string, cols []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	defer stmt.Close()
	for i := 0; i < n; i++ {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}

// LineTooLongError stops an import whose file has a line longer than MaxImportLine.
type LineTooLongError struct{ Line int }

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("line %d is longer than %d bytes; is this a CSV or TXT file?", e.Line, MaxImportLine)
}

// lineLimitReader fails once more than max bytes pass without a newline, so
// a file without line breaks cannot make the CSV reader buffer it whole.
type lineLimitReader struct {
	r    io.Reader
	max  int
	run  int // bytes since the last newline
	line int
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.run = 0
			l.line++
			continue
		}
		l.run++
		if l.run > l.max {
			return 0, &LineTooLongError{Line: l.line + 1}
		}
	}
	return n, err
}
