package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jmoiron/sqlx"
	"github.com/nudge-engine/nudge/users"
)

func (a *App) usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage manager and admin accounts"}
	var role string
	var fromStdin bool
	add := &cobra.Command{
		Use:   "add EMAIL",
		Short: "Create an account; prints a one-time password unless --password-stdin is given",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			pw, generated, err := a.password(fromStdin)
			if err != nil {
				return err
			}
			u, err := users.NewStore(d, nil).Add(ctx, args[0], users.Role(role), pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "created %s (%s)\n", u.Email, u.Role)
			if generated {
				fmt.Fprintf(a.Stdout, "one-time password: %s\n", pw)
			}
			return nil
		}),
	}
	add.Flags().StringVar(&role, "role", "manager", "admin or manager")
	add.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	passwd := &cobra.Command{
		Use:   "passwd EMAIL",
		Short: "Set a new password; prints a one-time password unless --password-stdin is given",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			pw, generated, err := a.password(fromStdin)
			if err != nil {
				return err
			}
			if err := users.NewStore(d, nil).SetPassword(ctx, args[0], pw); err != nil {
				return err
			}
			if generated {
				fmt.Fprintf(a.Stdout, "one-time password: %s\n", pw)
			}
			return nil
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
				fmt.Fprintf(a.Stdout, "%-40s %-8s %s\n", u.Email, u.Role, u.CreatedAt.UTC().Format("2006-01-02"))
			}
			return nil
		}),
	}
	cmd.AddCommand(add, passwd, list)
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
