package fakes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
)

// Main is the nudge-fakes command: it starts a Set, prints the variables
// for `nudge` as shell exports and serves the control API until ctx ends.
// The flow clock comes from NUDGE_CLOCK_SCALE/START/ORIGIN, as nudge's does.
func Main(ctx context.Context, args []string, env *config.Env, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nudge-fakes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address of the control API and the customer chat pages (keep it on loopback: they play any customer without authentication)")
	base := fs.String("base-url", env.String("NUDGE_BASE_URL", "http://127.0.0.1:8080"), "Nudge's public URL, where WhatsApp, Messenger, Instagram, VK and inbound SMS post (default $NUDGE_BASE_URL)")
	caFile := fs.String("ca-file", "", "PEM certificates to trust for https webhook URLs, beside the system roots")
	insecure := fs.Bool("insecure", false, "do not verify the TLS certificate of webhook URLs (a self-signed test proxy)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: nudge-fakes [flags]

Serves wire-protocol fakes of Telegram, Viber, WhatsApp Cloud, Messenger, Instagram, VK,
Twilio SMS and an SMTP server on loopback, prints the NUDGE_* variables that
point nudge at them, and serves a control API that plays the customers.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nudge-fakes: unexpected arguments %q\n", fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := run(ctx, env, *addr, *base, *caFile, *insecure, stdout, log); err != nil {
		fmt.Fprintln(stderr, "nudge-fakes:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, env *config.Env, addr, base, caFile string, insecure bool, stdout io.Writer, log *slog.Logger) error {
	ccfg := clock.LoadConfig(env)
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	ccfg = ccfg.Fixed()
	clk := ccfg.Clock()
	hc, err := webhookClient(caFile, insecure)
	if err != nil {
		return err
	}
	set, err := Start(Options{Now: clk.Now, After: ccfg.After, BaseURL: strings.TrimRight(base, "/"), Client: hc})
	if err != nil {
		return err
	}
	defer set.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{Handler: set.Handler(), ReadHeaderTimeout: 10 * time.Second}
	vars := set.Env()
	for k, v := range ccfg.Env() {
		vars[k] = v // a scaled clock: nudge's processes must share it
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "# nudge-fakes: control API http://%s (GET / lists the calls); Nudge at %s\n", ln.Addr(), base)
	fmt.Fprintf(stdout, "# Customer chats: http://%s/chat (press buttons and reply as the simulated customers)\n", ln.Addr())
	fmt.Fprintln(stdout, "# Point nudge at the fakes, then run `nudge channels setup telegram` and `… viber`:")
	for _, k := range keys {
		fmt.Fprintf(stdout, "export %s='%s'\n", k, strings.ReplaceAll(vars[k], "'", `'\''`))
	}
	fmt.Fprintln(stdout, "# ready")
	log.Info("fakes serving", "control", ln.Addr().String(), "base_url", base, "clock", ccfg.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}

// webhookClient is the client the fakes post to Nudge with: the system
// roots plus caFile, or no verification at all when insecure.
func webhookClient(caFile string, insecure bool) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	switch {
	case insecure:
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by --insecure, for test proxies
	case caFile != "":
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}
