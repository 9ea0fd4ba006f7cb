// Command nudge-fakes serves a wire-protocol fake of every provider Nudge
// talks to (see package channels/fakes), so campaigns can be tried without
// real accounts. It is a separate binary: `nudge` links no fake.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := fakes.Main(ctx, os.Args[1:], &config.Env{}, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
