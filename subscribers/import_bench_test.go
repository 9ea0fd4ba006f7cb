package subscribers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkImport1M imports a generated 1,000,000-row CSV (streamed, never
// held in memory) and reports rows/s and the peak heap in use.
// Run: go test -run '^$' -bench BenchmarkImport1M -benchtime 1x ./subscribers
func BenchmarkImport1M(b *testing.B) { benchImport(b, 1_000_000) }

// BenchmarkImport100k is the same at a tenth of the size, for quick comparisons.
func BenchmarkImport100k(b *testing.B) { benchImport(b, 100_000) }

func benchImport(b *testing.B, rows int) {
	d := testenv.DB(b)
	im := subscribers.NewImporter(d, nil)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap while the import runs
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
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(genCSV(pw, rows, i)) }()
		rep, err := im.Import(context.Background(), pr, subscribers.ImportOptions{Format: subscribers.CSV, KeepErrors: 10})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Imported != rows-rows/1000 || rep.Rejected != rows/1000 {
			b.Fatalf("report: %s", rep.Summary())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(rows*b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak_heap_MiB")
}
