package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jmoiron/sqlx"
	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/users"
)

func (a *App) usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage the accounts of people: admins, marketers, managers and viewers"}
	// add and set keep their own flag variables: a shared one would take
	// the default of whichever command registers its flag last.
	var role, queues, setRole, setQueues string
	var fromStdin bool
	add := &cobra.Command{
		Use:   "add EMAIL",
		Short: "Create an account; prints a one-time password unless --password-stdin is given",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			return a.setPassword(fromStdin, func(pw string) error {
				u, err := users.NewStore(d, nil).Add(ctx, args[0], users.Role(role), pw, users.ParseQueues(queues))
				if err != nil {
					return err
				}
				if err := audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "user.add", Subject: "user:" + u.Email,
					Detail: map[string]any{"role": u.Role, "queues": u.Queues}}); err != nil {
					return err
				}
				fmt.Fprintf(a.Stdout, "created %s (%s)\n", u.Email, u.Role)
				return nil
			})
		}),
	}
	add.Flags().StringVar(&role, "role", "manager", "admin, marketer, manager or viewer")
	add.Flags().StringVar(&queues, "queues", "", "a manager's inbox queues, comma-separated (default: every queue)")
	set := &cobra.Command{
		Use:   "set EMAIL",
		Short: "Change an account's role or a manager's queues (effective at its next request)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r *users.Role
			var q []string
			if cmd.Flags().Changed("role") {
				rr := users.Role(setRole)
				r = &rr
			}
			if cmd.Flags().Changed("queues") {
				q = users.ParseQueues(setQueues)
			}
			if r == nil && q == nil {
				return fmt.Errorf("nothing to change: give --role and/or --queues")
			}
			return a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
				u, err := users.NewStore(d, nil).SetAccess(ctx, args[0], r, q)
				if err != nil {
					return err
				}
				if err := audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "user.set", Subject: "user:" + u.Email,
					Detail: map[string]any{"role": u.Role, "queues": u.Queues}}); err != nil {
					return err
				}
				fmt.Fprintln(a.Stdout, strings.TrimSpace(fmt.Sprintf("%s: %s %s", u.Email, u.Role, queueList(u.Queues))))
				return nil
			})(cmd, args)
		},
	}
	set.Flags().StringVar(&setRole, "role", "", "admin, marketer, manager or viewer")
	set.Flags().StringVar(&setQueues, "queues", "", "a manager's inbox queues, comma-separated (\"\" = every queue)")
	add.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	passwd := &cobra.Command{
		Use:   "passwd EMAIL",
		Short: "Set a new password; prints a one-time password unless --password-stdin is given",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			return a.setPassword(fromStdin, func(pw string) error {
				if err := users.NewStore(d, nil).SetPassword(ctx, args[0], pw); err != nil {
					return err
				}
				return audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "user.passwd", Subject: "user:" + strings.ToLower(args[0])})
			})
		}),
	}
	passwd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, _ []string) error {
			us, err := users.NewStore(d, nil).List(ctx)
			if err != nil {
				return err
			}
			for _, u := range us {
				fmt.Fprintln(a.Stdout, strings.TrimSpace(fmt.Sprintf("%-40s %-8s %s %s", u.Email, u.Role, u.CreatedAt.UTC().Format("2006-01-02"), queueList(u.Queues))))
			}
			return nil
		}),
	}
	cmd.AddCommand(add, set, passwd, list)
	return cmd
}

// setPassword hands set the password read from standard input (fromStdin)
// or a generated one, and prints a generated one once set has stored it.
func (a *App) setPassword(fromStdin bool, set func(pw string) error) error {
	pw, generated, err := a.password(fromStdin)
	if err != nil {
		return err
	}
	if err := set(pw); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(a.Stdout, "one-time password: %s\n", pw)
	}
	return nil
}

func (a *App) password(fromStdin bool) (pw string, generated bool, err error) {
	if !fromStdin {
		return users.RandomPassword(), true, nil
	}
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

// queueList shows a manager's queues ("" for every queue).
func queueList(qs []string) string {
	if len(qs) == 0 {
		return ""
	}
	return "queues=" + strings.Join(qs, ",")
}
