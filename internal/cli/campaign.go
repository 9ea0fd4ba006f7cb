package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
)

func (a *App) campaignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Lint, apply, inspect and preview campaign files",
	}
	cmd.AddCommand(
		a.campaignLintCmd(),
	)
	return cmd
}

func (a *App) campaignLintCmd() *cobra.Command {
	var rules bool
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Check campaign files and report every problem with its position",
		Long: "Check campaign files (directories expand to their *.yaml and *.yml files).\n" +
			"Exit status: 0 clean, 1 problems found, 2 usage error (no such file).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if rules {
				for _, r := range campaigns.Rules {
					fmt.Fprintf(a.Stdout, "%-26s %s\n", r.ID, r.Doc)
				}
				return nil
			}
			if len(args) == 0 {
				return &ExitError{Code: 2, Msg: "usage: nudge campaign lint PATH..."}
			}
			files, errs, err := loadCampaignFiles(args)
			if err != nil {
				return err
			}
			if len(errs) == 0 {
				fmt.Fprintf(a.Stdout, "%d campaign %s: no problems\n", len(files), plural(len(files), "file", "files"))
				return nil
			}
			sources := map[string][]byte{}
			for _, f := range files {
				sources[f.Path] = f.Source
			}
			_ = campaigns.WriteReport(a.Stdout, errs, sources)
			return &ExitError{Code: 1, Msg: fmt.Sprintf("%d %s in %d %s", len(errs), plural(len(errs), "problem", "problems"), len(files), plural(len(files), "file", "files"))}
		},
	}
	cmd.Flags().BoolVar(&rules, "rules", false, "list the lint rules and exit")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// expandPaths turns arguments into campaign file paths: directories expand
// to their *.yaml and *.yml files (recursively), in a stable order.
func expandPaths(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: %v", err)}
		}
		if !st.IsDir() {
			out = append(out, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: %v", err)}
		}
		if len(found) == 0 {
			return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: no *.yaml or *.yml files in %s", arg)}
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// loadCampaignFiles loads and lints every file named by args.
func loadCampaignFiles(args []string) ([]*campaigns.File, []campaigns.LintError, error) {
	paths, err := expandPaths(args)
	if err != nil {
		return nil, nil, err
	}
	var files []*campaigns.File
	for _, p := range paths {
		f, err := campaigns.Load(p)
		if f == nil {
			return nil, nil, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: %v", err)}
		}
		files = append(files, f)
	}
	return files, campaigns.Lint(files), nil
}
