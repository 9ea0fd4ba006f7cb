package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/classify"
)

func (a *App) classifyCmd() *cobra.Command {
	var campaignID, stepID, evalFile string
	cmd := &cobra.Command{
		Use:   "classify",
		Short: "Classify replies read one per line from stdin, or route them through a campaign step",
		Long: "Read replies one per line on stdin and print, tab-separated, the sentiment, its\n" +
			"confidence, the rule that decided, its evidence and the reply.\n\n" +
			"With --campaign ID --step STEP, print first the step each reply would go to in that\n" +
			"wait_reply step of the applied campaign (\"handoff\" for the inbox), decided exactly as\n" +
			"the reply router decides it.\n\n" +
			"With --eval FILE.tsv (label<TAB>reply lines; labels positive, negative, neutral),\n" +
			"print the accuracy and the confusion matrix instead.\n\n" +
			"NUDGE_LEXICON_FILE extends the lexicon as it does for the server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (campaignID == "") != (stepID == "") {
				return errors.New("--campaign and --step go together")
			}
			if evalFile != "" && campaignID != "" {
				return errors.New("--eval measures the sentiment alone: drop --campaign and --step")
			}
			lexPath := a.Env.String("NUDGE_LEXICON_FILE", "")
			lex, err := classify.LexiconFile(lexPath)
			if err != nil {
				return fmt.Errorf("NUDGE_LEXICON_FILE: %w", err)
			}
			c := classify.New(lex)
			if evalFile != "" {
				return a.classifyEval(c, evalFile)
			}
			var step *campaigns.WaitReplyStep
			if campaignID != "" {
				if step, err = a.replyStep(cmd, campaignID, stepID); err != nil {
					return err
				}
			}
			return a.classifyLines(c, step)
		},
	}
	cmd.Flags().StringVar(&campaignID, "campaign", "", "campaign id whose applied version to route through")
	cmd.Flags().StringVar(&stepID, "step", "", "id of the campaign's wait_reply step")
	cmd.Flags().StringVar(&evalFile, "eval", "", "labelled replies (label<TAB>reply): print accuracy and confusion")
	return cmd
}

// replyStep loads the applied version of a campaign and finds its wait_reply step.
func (a *App) replyStep(cmd *cobra.Command, campaignID, stepID string) (step *campaigns.WaitReplyStep, err error) {
	err = a.withCampaigns(func(ctx context.Context, store *campaigns.Store, _ []string) error {
		_, def, err := store.Current(ctx, campaignID)
		if err != nil {
			return notFound(err, "campaign "+campaignID)
		}
		var ids []string
		for _, s := range def.Steps {
			if s.ID != stepID {
				ids = append(ids, s.ID)
				continue
			}
			if s.WaitReply == nil {
				return &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: step %q of campaign %s is not a wait_reply step", stepID, campaignID)}
			}
			step = s.WaitReply
			return nil
		}
		return &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: campaign %s has no step %q (steps: %s)", campaignID, stepID, strings.Join(ids, ", "))}
	})(cmd, nil)
	return step, err
}

// classifyLines classifies (or routes) each non-blank stdin line.
func (a *App) classifyLines(c *classify.Classifier, step *campaigns.WaitReplyStep) error {
	sc := bufio.NewScanner(a.Stdin)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	w := bufio.NewWriter(a.Stdout)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var res classify.Result
		if step != nil {
			res = c.Route(step, "", text)
			target := res.Goto
			if target == "" {
				target = "handoff"
			}
			fmt.Fprintf(w, "%s\t", target)
		} else {
			res = c.Classify(classify.Input{Text: text})
		}
		fmt.Fprintf(w, "%s\t%.2f\t%s\t%s\t%s\n", res.Sentiment, res.Confidence, res.Rule, oneLine(res.Detail), text)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	return w.Flush()
}

func (a *App) classifyEval(c *classify.Classifier, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--eval: %w", err)
	}
	defer f.Close()
	ex, err := classify.ReadExamples(f, path)
	if err != nil {
		return fmt.Errorf("--eval: %w", err)
	}
	if len(ex) == 0 {
		return fmt.Errorf("--eval: %s has no labelled replies", path)
	}
	c.Evaluate(ex).Write(a.Stdout)
	return nil
}

// oneLine keeps a tab-separated row one row.
func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
}
