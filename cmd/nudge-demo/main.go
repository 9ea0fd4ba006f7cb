// Command nudge-demo runs the GrowFood week of examples/growfood: the engine
// (`nudge run --migrate`, in-process) against every provider fake. It is the
// binary behind `make demo`; `nudge` itself links no fake.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/cli"
	"github.com/nudge-engine/nudge/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], &config.Env{}, os.Stdout, os.Stderr, engine)
	stop()
	os.Exit(code)
}

// engine is `nudge run --migrate` with the demo's configuration.
func engine(ctx context.Context, lookup func(string) (string, bool)) error {
	if code := cli.MainEnv(ctx, []string{"run", "--migrate"}, lookup, nil, os.Stdout, os.Stderr); code != 0 {
		return fmt.Errorf("nudge run exited %d", code)
	}
	return nil
}
