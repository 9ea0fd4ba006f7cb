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
	add := a.passwordCmd("add", "Create an account", func(ctx context.Context, d *sqlx.DB, email, pw string) error {
		u, err := users.NewStore(d, nil).Add(ctx, email, users.Role(role), pw, users.ParseQueues(queues))
		if err != nil {
			return err
		}
		if err := a.auditAccess(ctx, d, "user.add", u); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "created %s (%s)\n", u.Email, u.Role)
		return nil
	})
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
				if err := a.auditAccess(ctx, d, "user.set", u); err != nil {
					return err
				}
				fmt.Fprintln(a.Stdout, strings.TrimSpace(fmt.Sprintf("%s: %s %s", u.Email, u.Role, queueList(u.Queues))))
				return nil
			})(cmd, args)
		},
	}
	set.Flags().StringVar(&setRole, "role", "", "admin, marketer, manager or viewer")
	set.Flags().StringVar(&setQueues, "queues", "", "a manager's inbox queues, comma-separated (\"\" = every queue)")
	passwd := a.passwordCmd("passwd", "Set a new password", func(ctx context.Context, d *sqlx.DB, email, pw string) error {
		if err := users.NewStore(d, nil).SetPassword(ctx, email, pw); err != nil {
			return err
		}
		return audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "user.passwd", Subject: "user:" + strings.ToLower(email)})
	})
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

// auditAccess records action on account u with the role and queues it has now.
func (a *App) auditAccess(ctx context.Context, d *sqlx.DB, action string, u users.User) error {
	return audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: action, Subject: "user:" + u.Email,
		Detail: map[string]any{"role": u.Role, "queues": u.Queues}})
}

// passwordCmd is a users command on one EMAIL that stores a password with
// store: the one --password-stdin reads, or a generated one it prints once
// store has taken it.
func (a *App) passwordCmd(use, short string, store func(ctx context.Context, d *sqlx.DB, email, pw string) error) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   use + " EMAIL",
		Short: short + "; prints a one-time password unless --password-stdin is given",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			pw, generated, err := a.password(fromStdin)
			if err != nil {
				return err
			}
			if err := store(ctx, d, args[0], pw); err != nil {
				return err
			}
			if generated {
				fmt.Fprintf(a.Stdout, "one-time password: %s\n", pw)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	return cmd
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
