// Command nudge is the Nudge engine: see `nudge --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/nudge-engine/nudge/internal/cli"
)

func main() {
	// The engine allocates per message, and with Go's default GOGC=100 a
	// worker spent about a quarter of its CPU collecting during a blast. 200
	// halves that for a few MB more heap (1M blast: under 70 MB RSS).
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
