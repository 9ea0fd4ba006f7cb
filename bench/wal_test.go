package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
)

// walKind is one kind of WAL record a benchmark wrote: the resource
// manager, the record type and the relation it touched.
type walKind struct {
	Kind     string  `json:"kind"` // "Heap INSERT messages", "Btree INSERT_LEAF messages_cap", …
	Records  float64 `json:"records_per_message"`
	Bytes    float64 `json:"bytes_per_message"`
	FPIBytes float64 `json:"fpi_bytes_per_message"`
}

var (
	walLine = regexp.MustCompile(`^rmgr: (\S+)\s+len \(rec/tot\):\s*(\d+)/\s*(\d+),.*desc: (\S+)`)
	walRel  = regexp.MustCompile(`rel \d+/(\d+)/(\d+)`)
)

// walBreakdown lists what the records of d's relations in w were, per
// message, by running the server's pg_waldump over the range (Postgres on
// this machine, its WAL readable: the benchmark runs as the user that can).
// Records naming no relation of d (commits, other databases) are left out.
// It returns nil, and says why, where pg_waldump cannot read the WAL.
func walBreakdown(b *testing.B, d *sqlx.DB, w walRange, n int) []walKind {
	b.Helper()
	var dir string
	var ver int
	if err := d.Get(&dir, `SELECT current_setting('data_directory')`); err != nil {
		fmt.Printf("WAL breakdown skipped: %v\n", err)
		return nil
	}
	if err := d.Get(&ver, `SELECT current_setting('server_version_num')::int / 10000`); err != nil {
		b.Fatal(err)
	}
	tool := filepath.Join("/usr/lib/postgresql", strconv.Itoa(ver), "bin", "pg_waldump")
	if _, err := os.Stat(tool); err != nil {
		fmt.Printf("WAL breakdown skipped: no %s\n", tool)
		return nil
	}
	names := map[string]string{}
	var rels []struct {
		Node string `db:"node"`
		Name string `db:"name"`
	}
	if err := d.Select(&rels, `SELECT pg_relation_filenode(oid)::text AS node, relname AS name FROM pg_class WHERE pg_relation_filenode(oid) IS NOT NULL`); err != nil {
		b.Fatal(err)
	}
	for _, r := range rels {
		names[r.Node] = r.Name
	}
	// Read as pg_waldump writes: a 10M blast's range is tens of GB of text.
	var errOut bytes.Buffer
	cmd := exec.Command(tool, "-p", filepath.Join(dir, "pg_wal"), "-s", w.Start, "-e", w.End)
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fmt.Printf("WAL breakdown skipped: pg_waldump: %v\n", err)
		return nil
	}
	db := strconv.FormatInt(w.DatabaseOID, 10)
	kinds := map[string]*walKind{}
	lines := 0
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		m := walLine.FindStringSubmatch(sc.Text())
		rel := walRel.FindStringSubmatch(sc.Text())
		if m == nil || rel == nil || rel[1] != db {
			continue
		}
		name, ok := names[rel[2]]
		if !ok {
			name = "relfilenode " + rel[2]
		}
		key := m[1] + " " + strings.TrimSuffix(m[4], ":") + " " + name
		k := kinds[key]
		if k == nil {
			k = &walKind{Kind: key}
			kinds[key] = k
		}
		rec, _ := strconv.Atoi(m[2])
		tot, _ := strconv.Atoi(m[3])
		k.Records++
		k.Bytes += float64(tot)
		k.FPIBytes += float64(tot - rec)
	}
	_, _ = io.Copy(io.Discard, out) // a line the scanner refused: let pg_waldump finish
	if err := cmd.Wait(); err != nil && lines == 0 {
		fmt.Printf("WAL breakdown skipped: pg_waldump: %v: %s\n", err, strings.TrimSpace(errOut.String()))
		return nil
	}
	list := make([]walKind, 0, len(kinds))
	for _, k := range kinds {
		k.Records, k.Bytes, k.FPIBytes = k.Records/float64(n), k.Bytes/float64(n), k.FPIBytes/float64(n)
		list = append(list, *k)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Bytes > list[j].Bytes })
	return list
}

// walTotals sums records and bytes per message over the kinds.
func walTotals(list []walKind) (recs, total float64) {
	for _, k := range list {
		recs += k.Records
		total += k.Bytes
	}
	return recs, total
}

// printWAL prints the kinds that make up most of the bytes, per unit
// ("message", "run").
func printWAL(list []walKind, what, unit string) {
	recs, total := walTotals(list)
	fmt.Printf("WAL of %s: %.1f records, %.0f bytes per %s\n", what, recs, total, unit)
	for i, k := range list {
		if i == 15 {
			break
		}
		fmt.Printf("  %-55s %5.2f rec %7.1f B (FPI %.1f B)\n", k.Kind, k.Records, k.Bytes, k.FPIBytes)
	}
}

// reserveWAL keeps the server from recycling WAL until the returned func is
// called, with a physical replication slot (busy test runs on the same
// server can write a 16 MB segment a second); without the privilege it
// reserves nothing and the breakdown may find its WAL gone.
func reserveWAL(b *testing.B, d *sqlx.DB) func() {
	b.Helper()
	slot := fmt.Sprintf("nudge_bench_%d", os.Getpid())
	if _, err := d.Exec(`SELECT pg_create_physical_replication_slot($1, true)`, slot); err != nil {
		fmt.Printf("WAL not reserved: %v\n", err)
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(func() { _, _ = d.Exec(`SELECT pg_drop_replication_slot($1)`, slot) }) }
}
