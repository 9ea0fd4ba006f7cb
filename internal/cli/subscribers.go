package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/jmoiron/sqlx"
	"github.com/nudge-engine/nudge/subscribers"
)

func (a *App) subscribersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscribers",
		Short: "Import, show, export and erase subscribers",
	}
	cmd.AddCommand(a.subscribersImportCmd(), a.subscribersGetCmd(), a.subscribersExportCmd(), a.subscribersEraseCmd())
	return cmd
}

func (a *App) subscribersImportCmd() *cobra.Command {
	var (
		format string
		delim  string
		enc    string
		batch  int
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import subscribers from a CSV or TXT file (- for standard input)",
		Long: `Import subscribers from FILE, streaming it (bounded memory).

CSV: a header row naming the columns external_id, name, locale, time_zone,
phone (WhatsApp and SMS), email, telegram, viber, messenger, instagram, vk, attr.<name>,
and optionally consent_marketing / consent_service (true/false) with
consent_proof, consent_source and consent_at. Fields are separated by ',',
';' (Excel in Russian locales) or tab, whichever the header line uses most;
--delimiter overrides. The usual Russian names of these columns are read
as them (ID, Имя, ФИО, Телефон, Почта, E-mail, Язык, Часовой пояс, …); the
unknown-column error lists them. Columns with an empty name (Excel's
trailing delimiters) must be empty. A quoted cell may span lines in attr.<name> and
consent_proof columns. The file is UTF-8 (with or without a byte order mark)
unless --encoding says windows-1251 or koi8-r. Rows are upserts by external_id
(rows without one are matched by their addresses), so running the same file
again changes nothing: "updated" counts only rows whose stored values
changed, "unchanged" the rows the store already matched. Imported contacts
get NO consent unless the consent columns say so.

TXT: one phone number (E.164, +79991234567) or email address per line.

The whole file is read and checked before anything is written: an error in
the file itself (an unterminated quote, an unreadable header) writes nothing.
Every rejected row is printed with its line number and reason (two rows with
the same external_id are both rejected); the good rows are imported. The exit
code is 1 when any row was rejected.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f := subscribers.FormatOf(args[0])
			if format != "" {
				var err error
				if f, err = subscribers.ParseFormat(format); err != nil {
					return fmt.Errorf("--format: %w", err)
				}
			}
			var sep rune
			if delim != "" {
				var err error
				if sep, err = subscribers.ParseDelimiter(delim); err != nil {
					return fmt.Errorf("--delimiter: %w", err)
				}
			}
			var (
				in   io.Reader = a.Stdin
				size int64     = -1
			)
			if args[0] != "-" {
				file, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer file.Close()
				if st, err := file.Stat(); err == nil {
					size = st.Size()
				}
				in = file
			}
			d, err := a.OpenDB(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			// The bar only draws on a terminal, so logs and CI output stay clean.
			var bar *progressbar.ProgressBar
			if IsTerminal(a.Stderr) {
				bar = progressbar.NewOptions64(size,
					progressbar.OptionSetWriter(a.Stderr),
					progressbar.OptionSetDescription("importing"),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
				in = io.TeeReader(in, bar)
			}
			// Imported rows and their consent are stamped on the flow clock,
			// as every other write of the engine (the demo's runs fast).
			im := subscribers.NewImporter(d, a.flowClock().Now)
			rep, err := im.Import(ctx, in, subscribers.ImportOptions{
				Format:     f,
				Delimiter:  sep,
				Encoding:   enc,
				BatchSize:  batch,
				KeepErrors: -1,
				OnReject: func(e subscribers.RowError) {
					if bar != nil {
						_ = bar.Clear()
					}
					fmt.Fprintf(a.Stderr, "%s: %s\n", args[0], e.Error())
				},
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				if rep.WrittenThrough > 0 {
					fmt.Fprintf(a.Stdout, "%s; rows up to line %d were written, none after it\n", rep.Summary(), rep.WrittenThrough)
				} else {
					fmt.Fprintln(a.Stdout, "nothing was imported")
				}
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintln(a.Stdout, rep.Summary())
			if rep.Rejected > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "csv or txt (default: from the file name; .txt is txt, anything else csv)")
	cmd.Flags().StringVar(&delim, "delimiter", "", "CSV field separator: ',', ';' or tab (default: detected from the header line)")
	cmd.Flags().StringVar(&enc, "encoding", "utf-8", "the file's character set: utf-8 (with or without BOM), windows-1251 or koi8-r")
	cmd.Flags().IntVar(&batch, "batch", subscribers.DefaultImportBatch, "rows per write transaction, once the whole file is checked")
	return cmd
}

func (a *App) subscribersGetCmd() *cobra.Command {
	return subscriberJSONCmd(a, "get", "Print a subscriber as JSON",
		func(ctx context.Context, d *sqlx.DB, id string) (subscribers.Subscriber, error) {
			return subscribers.NewStore(d, nil).Get(ctx, id)
		})
}

func (a *App) subscribersEraseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "erase EXTERNAL_ID",
		Short: "Erase a subscriber's personal data and words (figures and consent rows stay, pseudonymised)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			p, err := subscriberStore(d, a.flowClock().Now).Erase(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, "erased; external_id is now", p)
			return nil
		}),
	}
}

func (a *App) subscribersExportCmd() *cobra.Command {
	return subscriberJSONCmd(a, "export", "Print everything held about a subscriber as JSON (an access request)",
		func(ctx context.Context, d *sqlx.DB, id string) (subscribers.Export, error) {
			return subscriberStore(d, a.flowClock().Now).Export(ctx, id)
		})
}

// subscriberJSONCmd is the command use EXTERNAL_ID: it prints as JSON what
// get returns for that subscriber.
func subscriberJSONCmd[T any](a *App, use, short string, get func(ctx context.Context, d *sqlx.DB, id string) (T, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " EXTERNAL_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			v, err := get(ctx, d, args[0])
			if err != nil {
				return err
			}
			return printJSON(a.Stdout, v)
		}),
	}
}
