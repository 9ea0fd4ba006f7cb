package channelcheck

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Every complete campaign (and segment) in docs/campaigns.md lints clean, so the reference
// cannot show an invalid example.
func TestDocsExamplesLintClean(t *testing.T) {
	src, err := os.ReadFile("../../docs/campaigns.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ids := map[string]bool{}
	for _, m := range yamlBlock.FindAllStringSubmatch(string(src), -1) {
		if !strings.HasPrefix(m[1], "id: ") && !strings.HasPrefix(m[1], "kind: segment") {
			continue
		}
		n++
		f, _ := campaigns.Parse("docs/campaigns.md", []byte(m[1]))
		id := f.Def.ID
		if f.IsSegment() {
			id = "segment " + f.Segment.ID
		}
		if ids[id] {
			t.Errorf("two examples with id %s", id)
		}
		ids[id] = true
		for _, e := range Lint([]*campaigns.File{f}) {
			t.Errorf("example %s: %v (hint: %s)", id, e, e.Hint)
		}
	}
	if n < 7 {
		t.Errorf("only %d complete examples in docs/campaigns.md", n)
	}
}
