package subscribers_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/subscribers"
)

// genCSV writes a CSV of n subscribers (every 1000th row has a bad phone) to w.
func genCSV(w io.Writer, n, run int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintln(bw, "external_id,name,locale,time_zone,phone,email,attr.plan,attr.city")
	zones := []string{"Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Samara"}
	for i := 0; i < n; i++ {
		phone := fmt.Sprintf("+7%03d%07d", 900+run, i)
		if i%1000 == 999 {
			phone = "8-800-BAD"
		}
		if _, err := fmt.Fprintf(bw, "r%d-%d,Покупатель %d,ru,%s,%s,user%d.%d@example.com,weekly,Москва\n",
			run, i, i, zones[i%len(zones)], phone, run, i); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// BenchmarkImport imports a generated CSV of NUDGE_BENCH_IMPORT_ROWS rows
// (default 200,000; set 1000000 for the 1M figure) through the importer, then
// COPYs the same file, parsed by encoding/csv, into a plain table of the same
// columns in the same run: the bare-COPY ceiling. It reports rows/s of both,
// their ratio (target ≥ 0.25), the importer's peak heap and the CPU seconds
// the import took in this process and in its Postgres backends (those stay
// meaningful on a loaded machine, where wall time does not), and writes
// bench/results/import.json (make bench).
func BenchmarkImport(b *testing.B) {
	rows := 200_000
	if v := os.Getenv("NUDGE_BENCH_IMPORT_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("NUDGE_BENCH_IMPORT_ROWS=%q: want a number ≥ 1000", v)
		}
		rows = n
	}
	path := filepath.Join(b.TempDir(), "import.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := genCSV(f, rows, 0); err != nil {
		b.Fatal(err)
	}
	f.Close()
	d := testenv.DB(b)
	ctx := context.Background()
	var importSecs, copySecs, goCPU, pgCPU float64
	var peak uint64
	for i := 0; i < b.N; i++ {
		d.MustExec(`TRUNCATE subscribers, channel_identities, subscriber_rollup CASCADE`)
		stop := sampleHeap()
		pg0, go0 := backendCPU(b, d.DB), processCPU()
		start := time.Now()
		in, _ := os.Open(path)
		rep, err := subscribers.NewImporter(d, nil).Import(ctx, in, subscribers.ImportOptions{KeepErrors: 10})
		importSecs += time.Since(start).Seconds()
		in.Close()
		goCPU += processCPU() - go0
		pgCPU += backendCPU(b, d.DB).since(pg0)
		peak = max(peak, stop())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Imported != rows-rows/1000 || rep.Rejected != rows/1000 {
			b.Fatalf("report: %s", rep.Summary())
		}
		start = time.Now()
		if err := bareCopy(ctx, d.DB, path); err != nil {
			b.Fatal(err)
		}
		copySecs += time.Since(start).Seconds()
	}
	importRate := float64(rows*b.N) / importSecs
	copyRate := float64(rows*b.N) / copySecs
	b.ReportMetric(importRate, "rows/s")
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(importRate/copyRate, "ratio_to_copy")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	b.ReportMetric(goCPU/float64(b.N), "go_cpu_s")
	b.ReportMetric(pgCPU/float64(b.N), "pg_cpu_s")
	out, _ := json.MarshalIndent(map[string]any{
		"name":                 "import",
		"at":                   time.Now().UTC().Format(time.RFC3339),
		"go":                   runtime.Version(),
		"cpus":                 runtime.NumCPU(),
		"rows":                 rows,
		"import_seconds":       importSecs / float64(b.N),
		"import_rows_per_sec":  importRate,
		"copy_seconds":         copySecs / float64(b.N),
		"copy_rows_per_sec":    copyRate,
		"ratio_to_copy":        importRate / copyRate,
		"target_ratio_to_copy": 0.25,
		"peak_heap_bytes":      peak,
		"go_cpu_seconds":       goCPU / float64(b.N),
		"postgres_cpu_seconds": pgCPU / float64(b.N),
		"load_average":         testenv.LoadAverage(),
	}, "", "  ")
	if err := os.WriteFile(filepath.Join("..", "bench", "results", "import.json"), append(out, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}

// bareCopy is the baseline: the file parsed by encoding/csv and COPYed as
// is into a table of the same columns, no checks, no merge.
func bareCopy(ctx context.Context, d interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, path string) (err error) {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE bare_import (external_id text, name text, locale text,
		time_zone text, phone text, email text, plan text, city text) ON COMMIT DROP`); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("bare_import", "external_id", "name", "locale", "time_zone", "phone", "email", "plan", "city"))
	if err != nil {
		return err
	}
	cr := csv.NewReader(bufio.NewReaderSize(in, 64<<10))
	cr.ReuseRecord = true
	if _, err := cr.Read(); err != nil { // header
		return err
	}
	args := make([]any, 8)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for i, v := range rec {
			args[i] = v
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return err
	}
	if err := stmt.Close(); err != nil {
		return err
	}
	return tx.Commit()
}

// processCPU is this process's user and system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// backendCPUs is the CPU time of each Postgres backend of the test database.
type backendCPUs map[int]float64

// backendCPU reads the CPU time of the database's backends from /proc, which
// works when Postgres runs on this machine (else the figure is 0).
func backendCPU(b *testing.B, d *sql.DB) backendCPUs {
	var pids pq.Int64Array
	if err := d.QueryRow(`SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database()`).Scan(&pids); err != nil {
		b.Fatal(err)
	}
	out := backendCPUs{}
	for _, pid := range pids {
		if t, ok := testenv.ProcessCPU(int(pid)); ok {
			out[int(pid)] = t
		}
	}
	return out
}

// since sums the CPU the backends used after before was read.
func (c backendCPUs) since(before backendCPUs) float64 {
	var sum float64
	for pid, t := range c {
		sum += t - before[pid]
	}
	return sum
}

// sampleHeap samples HeapInuse every 20 ms until the returned func is
// called, which returns the peak.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); wg.Wait(); return peak.Load() }
}
