package channelcheck

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every complete campaign in docs/campaigns.md lints clean, so the reference
// cannot show an invalid example.
func TestDocsExamplesLintClean(t *testing.T) {
	src, err := os.ReadFile("../../docs/campaigns.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ids := map[string]bool{}
	for _, m := range yamlBlock.FindAllStringSubmatch(string(src), -1) {
		if !strings.HasPrefix(m[1], "id: ") {
			continue
		}
		n++
		f, _ := campaigns.Parse("docs/campaigns.md", []byte(m[1]))
		if ids[f.Def.ID] {
			t.Errorf("two examples with id %s", f.Def.ID)
		}
		ids[f.Def.ID] = true
		for _, e := range Lint([]*campaigns.File{f}) {
			t.Errorf("example %s: %v (hint: %s)", f.Def.ID, e, e.Hint)
		}
	}
	if n < 7 {
		t.Errorf("only %d complete examples in docs/campaigns.md", n)
	}
}
