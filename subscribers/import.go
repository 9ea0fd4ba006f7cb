package subscribers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
)

// Format is an import file format.
type Format string

const (
	CSV Format = "csv" // header row, one subscriber per record
	TXT Format = "txt" // one phone number or email address per line
)

// Import limits.
const (
	// DefaultImportBatch is the number of rows merged per transaction once
	// the whole file has been read and checked.
	DefaultImportBatch = 50_000
	MaxImportLine      = 64 << 10 // bytes between two newlines
	DefaultKeptErrors  = 1000
)

// ImportOptions tune one import.
type ImportOptions struct {
	Format    Format
	BatchSize int // rows per merge transaction; 0 = DefaultImportBatch
	// OnReject, if set, is called for every rejected row as it is found (the
	// CLI prints them all); Report.Errors keeps only the first KeepErrors.
	OnReject   func(RowError)
	KeepErrors int // 0 = DefaultKeptErrors; < 0 = none
	// Encoding is the file's character set: "utf-8" (the default, with or
	// without a byte order mark), "windows-1251" or "koi8-r".
	Encoding string
	// Delimiter separates CSV fields: ',', ';' or '\t'; 0 = detect it from
	// the header line (Excel in Russian locales saves with ';').
	Delimiter rune
}

// Report is the outcome of an import.
type Report struct {
	Rows      int        `json:"rows"`      // data rows read (blank lines and comments not counted)
	Imported  int        `json:"imported"`  // new subscribers
	Updated   int        `json:"updated"`   // existing subscribers whose stored values changed
	Unchanged int        `json:"unchanged"` // rows the store already matched (and repeats of an earlier row)
	Rejected  int        `json:"rejected"`
	Errors    []RowError `json:"errors"`
	// ErrorsTruncated is true when more rows were rejected than Errors holds.
	ErrorsTruncated bool `json:"errors_truncated,omitempty"`
	// WrittenThrough is the last line of the file whose batch was committed:
	// every row up to it, except the rejected ones, is in the store, and
	// nothing after it. 0 when nothing was written.
	WrittenThrough int `json:"written_through"`
}

// Summary is the one-line result the CLI prints.
func (r Report) Summary() string {
	return fmt.Sprintf("imported %d, updated %d, unchanged %d, rejected %d rows", r.Imported, r.Updated, r.Unchanged, r.Rejected)
}

// Importer streams CSV and TXT files of subscribers into the store.
type Importer struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewImporter returns an importer on d; now is the clock (nil = time.Now).
func NewImporter(d *sqlx.DB, now func() time.Time) *Importer {
	return &Importer{db: d, now: clock.NowOr(now)}
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

// Import reads r to the end, then writes it. The guarantee:
//
//   - The whole file is read and checked before anything is written. A
//     file-level error (unreadable header, an unterminated quote, a line too
//     long, I/O failure, cancellation) returns an error and writes nothing.
//   - Bad rows are rejected and reported with their line number (two rows with
//     the same external_id are both rejected, each naming the other); the good
//     rows are imported.
//   - The good rows are then merged in file order, BatchSize rows per
//     transaction. If the database fails part-way, the error is returned and
//     Report.WrittenThrough names the last line committed.
//
// Rows are upserts, so importing a file again changes nothing and counts its
// rows unchanged. Imported contacts get no consent unless the CSV carries
// consent_marketing / consent_service with consent_proof; consent is written
// by consent.Import.
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
	run := &importRun{opt: opt}
	conn, err := im.db.Connx(ctx)
	if err != nil {
		return run.rep, fmt.Errorf("import: %w", err)
	}
	defer conn.Close()
	// The staging tables live in this connection's session; drop them even
	// when ctx is done, so the pooled connection comes back clean.
	defer conn.ExecContext(context.WithoutCancel(ctx), qImportDropTables) //nolint:errcheck // best effort; the next import drops them first
	defer func() { run.lane.close(ctx) }()
	err = im.stage(ctx, conn, run, r)
	if err == nil {
		err = im.check(ctx, conn, run)
	}
	if err == nil {
		err = im.merge(ctx, conn, run)
	}
	if run.rep.Errors == nil {
		run.rep.Errors = []RowError{}
	}
	// Set-based checks find rows after later lines were read.
	sort.SliceStable(run.rep.Errors, func(i, j int) bool { return run.rep.Errors[i].Line < run.rep.Errors[j].Line })
	return run.rep, err
}

// importRun is one import's parser state and report.
type importRun struct {
	opt    ImportOptions
	rep    Report
	staged int
	// lane is the second merging connection (importlanes.go); nil when the
	// file fits one batch or no connection was free.
	lane *importLane
	// emit stages a valid row (the COPY; a counter in parser fuzzing).
	emit func(ctx context.Context, row importRow) error
	// header maps a column to its name in the file's header ("phone" →
	// "телефон"), so that a rejection names the column as the file does.
	header map[string]string
}

func (run *importRun) reject(e RowError) {
	if n, ok := run.header[e.Field]; ok {
		e.Field = n
	}
	run.rep.Rejected++
	if run.opt.OnReject != nil {
		run.opt.OnReject(e)
	}
	if run.opt.KeepErrors > 0 && len(run.rep.Errors) < run.opt.KeepErrors {
		run.rep.Errors = append(run.rep.Errors, e)
	} else if run.opt.KeepErrors > 0 {
		run.rep.ErrorsTruncated = true
	}
}

func (run *importRun) add(ctx context.Context, row importRow) error {
	run.rep.Rows++
	return run.emit(ctx, row)
}

var importRowCols = []string{"ord", "line", "external_id", "name", "locale", "time_zone", "attributes",
	"marketing", "service", "proof", "channels", "addresses"}

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

// stage reads the whole file and COPYs its valid rows into import_rows, in
// one transaction; an error leaves no staged rows.
func (im *Importer) stage(ctx context.Context, conn *sqlx.Conn, run *importRun, r io.Reader) (err error) {
	tx, stmt, err := openStaging(ctx, conn)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	defer stmt.Close()
	args := make([]any, len(importRowCols))
	importCtx := ctx
	run.emit = func(ctx context.Context, row importRow) error {
		args[0] = int64(run.staged)
		copy(args[1:], row.copyValues())
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("import: copy: %w", err)
		}
		if run.staged == run.opt.BatchSize && run.lane == nil { // the file has a second batch
			var err error
			// The import's ctx: the reader's ends with the file, and a
			// transaction ends with its ctx.
			if run.lane, err = im.openLane(importCtx, run.opt.BatchSize); err != nil {
				return err
			}
		}
		if run.lane.holds(run.staged) {
			if _, err := run.lane.copy.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("import: second connection: copy: %w", err)
			}
		}
		run.staged++
		return nil
	}
	if err := run.read(ctx, r); err != nil {
		return err
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("import: copy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit staging: %w", err)
	}
	return run.lane.commitStaging(ctx)
}

// openStaging empties the session's staging table and begins the
// transaction that creates it anew and COPYs into it: stmt. On error
// nothing is left open.
func openStaging(ctx context.Context, conn *sqlx.Conn) (tx *sqlx.Tx, stmt *sql.Stmt, err error) {
	if _, err := conn.ExecContext(ctx, qImportDropTables); err != nil {
		return nil, nil, fmt.Errorf("drop staging table: %w", err)
	}
	if tx, err = conn.BeginTxx(ctx, nil); err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.ExecContext(ctx, qImportCreateRows); err != nil {
		_ = tx.Rollback()
		return nil, nil, fmt.Errorf("staging table: %w", err)
	}
	if stmt, err = tx.PrepareContext(ctx, pq.CopyIn("import_rows", importRowCols...)); err != nil {
		_ = tx.Rollback()
		return nil, nil, fmt.Errorf("copy: %w", err)
	}
	return tx, stmt, nil
}

// check runs the whole-file checks on the staged rows: duplicate external
// ids and addresses within the file. The second connection, if any, indexes
// its rows meanwhile and then takes the checks' verdicts on them.
func (im *Importer) check(ctx context.Context, conn *sqlx.Conn, run *importRun) error {
	if run.lane == nil {
		return im.checkFile(ctx, conn, run)
	}
	laneErr := make(chan error, 1)
	go func() { laneErr <- run.lane.prepare(ctx) }()
	err := im.checkFile(ctx, conn, run)
	if lerr := <-laneErr; err == nil {
		err = lerr
	}
	if err != nil {
		return err
	}
	return run.lane.takeChecks(ctx, conn)
}

func (im *Importer) checkFile(ctx context.Context, conn *sqlx.Conn, run *importRun) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, q := range []string{qImportWorkMem, qImportPrepare} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("import: index staging table: %w", err)
		}
	}
	var keys []struct {
		Line  int           `db:"line"`
		Key   string        `db:"external_id"`
		Lines pq.Int64Array `db:"lines"`
	}
	if err := tx.SelectContext(ctx, &keys, qImportDuplicateKeys); err != nil {
		return fmt.Errorf("import: check external ids: %w", err)
	}
	for _, k := range keys {
		var others []string
		for _, l := range k.Lines {
			if int(l) != k.Line {
				others = append(others, strconv.FormatInt(l, 10))
			}
		}
		if len(others) > 5 {
			others = append(others[:5], "…")
		}
		run.reject(RowError{Line: k.Line, Field: "external_id", Reason: fmt.Sprintf(
			"%q is also on line %s; a file holds one row per subscriber, so none of these rows was imported", k.Key, strings.Join(others, ", "))})
	}
	var addrs []struct {
		Line   int    `db:"line"`
		Repeat bool   `db:"repeat"`
		Chan   string `db:"channel"`
		First  int    `db:"first_line"`
	}
	if err := tx.SelectContext(ctx, &addrs, qImportDuplicateAddresses, pq.Array(leadChannels())); err != nil {
		return fmt.Errorf("import: check addresses: %w", err)
	}
	for _, a := range addrs {
		if !a.Repeat {
			run.reject(RowError{Line: a.Line, Field: columnOf(channels.Kind(a.Chan)), Reason: fmt.Sprintf(
				"the same address is on line %d; a file holds one row per subscriber", a.First)})
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit checks: %w", err)
	}
	return nil
}
