package subscribers

// Reading an import file: its encoding, its delimiter and its rows, with a
// clear error for each way a file can be wrong (the line and the column).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// Encodings are the names ImportOptions.Encoding accepts.
var Encodings = []string{"utf-8", "windows-1251", "koi8-r"}

// decoder returns the reader that turns r from the named encoding into UTF-8.
func decoder(name string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "", "utf-8", "utf8":
		return r, nil
	case "windows-1251", "cp1251":
		return transform.NewReader(r, charmap.Windows1251.NewDecoder()), nil
	case "koi8-r", "koi8r":
		return transform.NewReader(r, charmap.KOI8R.NewDecoder()), nil
	}
	return nil, fieldErr("encoding", "must be one of %s, got %q", strings.Join(Encodings, ", "), name)
}

// notUTF8 is the file-level error for bytes that are not UTF-8.
func notUTF8(line int, field string) error {
	return &RowError{Line: line, Field: field, Reason: "is not UTF-8 text, so the file is in another encoding; " +
		"if Excel or 1C saved it in a Russian locale, run again with --encoding windows-1251 (or koi8-r). Nothing was imported"}
}

// Delimiters are the CSV field separators the importer accepts.
var Delimiters = []rune{',', ';', '\t'}

// ParseDelimiter reads a delimiter name: ",", ";", "tab" or a tab character.
func ParseDelimiter(s string) (rune, error) {
	switch strings.ToLower(s) {
	case ",", "comma":
		return ',', nil
	case ";", "semicolon":
		return ';', nil
	case "\t", `\t`, "tab":
		return '\t', nil
	}
	return 0, fieldErr("delimiter", "must be ',', ';' or tab, got %q", s)
}

// detectDelimiter picks the separator that occurs most often outside quotes
// in the header line; a one-column header is comma-separated.
func detectDelimiter(header []byte) rune {
	if i := bytes.IndexByte(header, '\n'); i >= 0 {
		header = header[:i]
	}
	counts := map[rune]int{}
	quoted := false
	for _, c := range string(header) {
		if c == '"' {
			quoted = !quoted
		} else if !quoted {
			counts[c]++
		}
	}
	best := ','
	for _, d := range Delimiters {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return best
}

// read parses the file by format, handing valid rows to run.emit.
func (run *importRun) read(ctx context.Context, r io.Reader) error {
	r, err := decoder(run.opt.Encoding, r)
	if err != nil {
		return err
	}
	lr := &lineLimitReader{r: r, max: MaxImportLine}
	switch run.opt.Format {
	case CSV:
		return run.readCSV(ctx, lr)
	case TXT:
		return run.readTXT(ctx, lr)
	}
	return fieldErr("format", "must be csv or txt, got %q", run.opt.Format)
}

func (run *importRun) readCSV(ctx context.Context, r io.Reader) error {
	delim := run.opt.Delimiter
	if delim == 0 {
		br := bufio.NewReaderSize(r, MaxImportLine+1)
		head, _ := br.Peek(MaxImportLine) // a short or failed read comes back to the CSV reader
		delim, r = detectDelimiter(head), br
	} else if !slices.Contains(Delimiters, delim) {
		return fieldErr("delimiter", "must be ',', ';' or tab, got %q", delim)
	}
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.FieldsPerRecord = -1 // records are kept until parsed: no ReuseRecord
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
	for _, h := range head {
		if !utf8.ValidString(h) {
			return notUTF8(1, "")
		}
	}
	cols, err := parseHeader(head)
	if err != nil {
		return err
	}
	run.header = map[string]string{}
	for _, c := range cols {
		if c.canon != "" {
			run.header[c.canon] = c.name
		}
	}
	return run.parseRecords(ctx, cr, cols)
}

// Parsing a row (a phone number above all) costs more than reading it, so
// rows are parsed by up to maxParsers goroutines, in chunks of parseChunk
// records, and handed on in file order. A few chunks are in flight at once,
// so memory stays bounded whatever the file's size.
const (
	maxParsers = 4
	parseChunk = 512
)

// csvItem is one record on its way through the parsers: a row, or the
// reason it is rejected.
type csvItem struct {
	line int
	rec  []string
	row  importRow
	rerr *RowError
}

type csvChunk struct {
	items []csvItem
	done  chan struct{} // closed once every item is parsed
}

// parseRecords reads cr's records (the header is read), parses them in
// parallel and stages them in file order. Only this goroutine touches run.
func (run *importRun) parseRecords(ctx context.Context, cr *csv.Reader, cols []column) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := min(maxParsers, runtime.GOMAXPROCS(0))
	work := make(chan *csvChunk, workers)
	order := make(chan *csvChunk, 2*workers)
	var readErr error
	go func() {
		defer close(order)
		defer close(work)
		readErr = readRecords(ctx, cr, cols, func(c *csvChunk) {
			order <- c // the loop below drains order until it is closed
			work <- c  // the parsers drain work until it is closed
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i := range c.items {
					if it := &c.items[i]; it.rerr == nil {
						it.row, it.rerr = parseCSVRow(cols, it.rec, it.line)
						if it.rerr == nil {
							it.row.copyValues()
						}
					}
				}
				close(c.done)
			}
		}()
	}
	var err error
	for c := range order {
		<-c.done
		for i := 0; i < len(c.items) && err == nil; i++ {
			it := &c.items[i]
			if it.rerr != nil {
				run.rep.Rows++
				run.reject(*it.rerr)
				continue
			}
			if err = run.add(ctx, it.row); err != nil {
				cancel() // stops the reader; the chunks in flight are drained
			}
		}
	}
	wg.Wait()
	if err != nil {
		return err
	}
	return readErr
}

// readRecords reads records into chunks and hands each to send; a file-level
// error is returned after the chunk of the rows before it.
func readRecords(ctx context.Context, cr *csv.Reader, cols []column, send func(*csvChunk)) error {
	c := &csvChunk{done: make(chan struct{})}
	flush := func() {
		if len(c.items) > 0 {
			send(c)
			c = &csvChunk{items: make([]csvItem, 0, parseChunk), done: make(chan struct{})}
		}
	}
	defer flush()
	for n := 0; ; n++ {
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(c.items) == parseChunk {
			flush()
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			if perr.Line > perr.StartLine {
				return unterminatedQuote(perr.StartLine, perr.Line)
			}
			c.items = append(c.items, csvItem{line: perr.StartLine, rerr: &RowError{Line: perr.StartLine, Reason: fmt.Sprintf("malformed CSV: %v", perr.Err)}})
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		for i, f := range rec {
			if !utf8.ValidString(f) && i < len(cols) {
				return notUTF8(line, cols[i].name)
			} else if !utf8.ValidString(f) {
				return notUTF8(line, "")
			}
		}
		if i := runsOn(rec, cols, cr.Comma); i >= 0 {
			fl, _ := cr.FieldPos(i)
			return unterminatedQuote(fl, fl+strings.Count(rec[i], "\n"))
		}
		c.items = append(c.items, csvItem{line: line, rec: rec})
	}
}

// runsOn returns the index of a field whose line breaks come from a quote
// left open, which swallowed the rows after it, or -1. A quoted cell may
// hold line breaks (Excel writes a comment or an address typed on several
// lines that way), so a break alone proves nothing. A quote left open shows
// in one of three ways:
//   - the record has another number of fields than the header;
//   - a line inside the field holds a whole row's delimiters (a swallowed
//     row);
//   - in a column that is one line (all but attributes and the consent
//     proof), the record's first line was a whole row by itself: its fields
//     up to the quote and the delimiters after it make the header's count.
//     In an attribute the same count can be a comment that holds a
//     delimiter, so there only a swallowed row tells.
func runsOn(rec []string, cols []column, delim rune) int {
	first := -1
	for i, f := range rec {
		if strings.ContainsAny(f, "\r\n") {
			first = i
			break
		}
	}
	if first < 0 {
		return -1
	}
	if len(rec) != len(cols) {
		return first
	}
	sep := string(delim)
	for i := first; i < len(rec); i++ {
		lines := strings.Split(strings.ReplaceAll(rec[i], "\r", "\n"), "\n")
		if i == first && !cols[i].multiline() && i+1+strings.Count(lines[0], sep) == len(cols) {
			return i
		}
		for _, l := range lines[1:] {
			if strings.Count(l, sep) >= len(cols)-1 {
				return i
			}
		}
	}
	return -1
}

// unterminatedQuote is the file-level error for a quote opened on line start
// and not closed on it.
func unterminatedQuote(start, end int) error {
	return &RowError{Line: start, Reason: fmt.Sprintf(
		"a quoted field is not closed on this line (it runs on to line %d); fix the quote — nothing was imported", end)}
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
		if !utf8.Valid(sc.Bytes()) {
			return notUTF8(line, "")
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
