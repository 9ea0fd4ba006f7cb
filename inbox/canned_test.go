package inbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCannedFileAndDir(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "canned.yaml", `
general:
  - "Спасибо, что написали!"
  - title: Refund
    text: |
      Вернём деньги за блюдо.
default:
  - Hello
`)
	c, err := LoadCanned(f)
	if err != nil {
		t.Fatal(err)
	}
	g := c.For("general")
	if len(g) != 2 || g[0].Text != "Спасибо, что написали!" || g[1].Title != "Refund" || g[1].Text != "Вернём деньги за блюдо." {
		t.Errorf("general: %+v", g)
	}
	if d := c.For("vip"); len(d) != 1 || d[0].Text != "Hello" {
		t.Errorf("a queue without a list gets the default: %+v", d)
	}

	qdir := filepath.Join(dir, "queues")
	_ = os.Mkdir(qdir, 0o700)
	writeFile(t, qdir, "replies.yaml", "- Мы разберёмся\n- title: Sorry\n  text: We are sorry\n")
	writeFile(t, qdir, "README.txt", "not yaml")
	c, err = LoadCanned(qdir)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.For("replies"); len(r) != 2 || r[1].Text != "We are sorry" {
		t.Errorf("dir: %+v", r)
	}
	if r := c.For("general"); len(r) != 0 {
		t.Errorf("no default list: %+v", r)
	}
	if c, err := LoadCanned(""); err != nil || len(c.For("general")) != 0 {
		t.Errorf("unset: %v", err)
	}
}

func TestLoadCannedErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ src, want string }{
		{"general:\n  - ok\n  - title: x\n    txt: y\n", "bad.yaml:4: queue \"general\": unknown key \"txt\""},
		{"general:\n  - ok\n  - 42\n", "bad.yaml:3: queue \"general\": a reply is text or {title, text}"},
		{"general: hello\n", "bad.yaml:1: queue \"general\": want a list of replies"},
		{"- a\n- b\n", "bad.yaml:1: want a mapping of queue names"},
		{"general:\n  - title: only a title\n", "bad.yaml:2: queue \"general\": a reply needs text"},
		{"general:\n  - a\ngeneral:\n  - b\n", "bad.yaml:3: not valid YAML: [3:1] mapping key \"general\" already defined"},
		{"general:\n  - \"unterminated\n", "bad.yaml:2: not valid YAML"},
	} {
		p := writeFile(t, dir, "bad.yaml", tc.src)
		_, err := LoadCanned(p)
		var ce *CannedError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := LoadCanned(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
