// Package cli is the nudge command line: one cobra command per file, all built
// from an App that carries the output streams, the environment and the logger,
// so tests run whole commands in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/nudge-engine/nudge/internal/clock"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/subscribers"
)

// Version is set at build time with -ldflags "-X
// github.com/nudge-engine/nudge/internal/cli.Version=…"; empty, the
// version comes from the build information the Go toolchain records.
var Version = ""

// version is Version, else the module version (a tag when built with `go
// install …@v1.2.3`) with the VCS revision `go build` records in a checkout.
func version() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += " " + rev[:min(12, len(rev))]
		if modified == "true" {
			v += "-dirty"
		}
	}
	return v
}

// App is what every command is built from.
type App struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
	Env    *config.Env
	Log    *slog.Logger

	logFormat string
	logLevel  string
}

// Main runs the nudge command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainEnv(ctx, args, nil, stdin, stdout, stderr)
}

// MainEnv is Main reading its configuration through lookup instead of the
// process environment (nil: the environment). nudge-demo runs `nudge run`
// in its own process so, with the variables it composed for the fakes.
func MainEnv(ctx context.Context, args []string, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	a := &App{Stdout: stdout, Stderr: stderr, Stdin: stdin, Env: &config.Env{Lookup: lookup}}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		err = db.Explain(err)
		var ex *ExitError
		if errors.As(err, &ex) {
			if ex.Msg != "" {
				fmt.Fprintln(stderr, ex.Msg)
			}
			return ex.Code
		}
		fmt.Fprintln(stderr, "nudge:", err)
		return 1
	}
	return 0
}

// ExitError ends a command with a specific exit code (lint uses 1 for findings).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit %d: %s", e.Code, e.Msg) }

func (a *App) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "nudge",
		Short:         "Nudge runs subscription notification campaigns in messengers",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLog()
		},
	}
	root.SetVersionTemplate("nudge {{.Version}}\n")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "", "log format: text or json (default $NUDGE_LOG_FORMAT or text)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn, error (default $NUDGE_LOG_LEVEL or info)")
	root.AddCommand(
		a.versionCmd(),
		a.migrateCmd(),
		a.serveCmd(),
		a.workerCmd(),
		a.schedulerCmd(),
		a.runCmd(),
		a.campaignCmd(),
		a.segmentCmd(),
		a.subscribersCmd(),
		a.apikeysCmd(),
		a.usersCmd(),
		a.channelsCmd(),
		a.classifyCmd(),
		a.broadcastCmd(),
	)
	return root
}

func (a *App) setupLog() error {
	format := a.logFormat
	if format == "" {
		format = a.Env.String("NUDGE_LOG_FORMAT", "text")
	}
	level := a.logLevel
	if level == "" {
		level = a.Env.String("NUDGE_LOG_LEVEL", "info")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		a.Log = slog.New(slog.NewTextHandler(a.Stderr, opts))
	case "json":
		a.Log = slog.New(slog.NewJSONHandler(a.Stderr, opts))
	default:
		return fmt.Errorf("--log-format: %q is not text or json", format)
	}
	return nil
}

// Core loads and validates the core configuration.
func (a *App) Core() (config.Core, error) {
	c := config.LoadCore(a.Env)
	// The flow clock is read here too, so that every command, not only the
	// server's roles, refuses a malformed NUDGE_CLOCK_* instead of running
	// on the wall clock.
	clock.LoadConfig(a.Env)
	if err := a.Env.Err(); err != nil {
		return c, fmt.Errorf("configuration:\n%w", err)
	}
	// Every role reads phones (the API, the import, inbound webhooks).
	if err := subscribers.SetPhoneRegion(c.PhoneRegion); err != nil {
		return c, fmt.Errorf("configuration: NUDGE_PHONE_REGION: %w", err)
	}
	return c, nil
}

// flowClock is the engine's clock as NUDGE_CLOCK_* configure it: what a
// command stamps and decides by, as the server's roles do.
func (a *App) flowClock() clock.Clock { return clock.LoadConfig(a.Env).Clock() }

// OpenDB opens the configured database.
func (a *App) OpenDB(ctx context.Context) (*sqlx.DB, error) {
	c, err := a.Core()
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db.SetPool(d, c.DBMaxConns)
	return d, nil
}

// openDB is OpenDB that first applies the pending migrations when migrate
// is set (a role's --migrate flag).
func (a *App) openDB(ctx context.Context, migrate bool) (*sqlx.DB, error) {
	d, err := a.OpenDB(ctx)
	if err != nil || !migrate {
		return d, err
	}
	if err := migrations.Up(ctx, d.DB); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// IsTerminal reports whether w is a terminal (progress bars only draw there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (a *App) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.Stdout, "nudge", version())
			return nil
		},
	}
}
