package campaigns

import (
	"bytes"
	"testing"
)

// FuzzLoad: no input may panic the loader, lint or the report writer.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("steps:\n  - id: a\n    next: a\n    set: {attributes: {k: [1, {b: c}]}}\n"))
	f.Add([]byte("%YAML 1.2\n---\nid: x\n...\n---\nid: y\n"))
	f.Add([]byte("<<: {a: 1}\nid: !!str 5\n"))
	f.Add([]byte("steps:\n  - id: s\n    split: {variants: [{id: a, weight: .nan, goto: s}, {id: a, weight: -1e400, goto: x}]}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, _ := Parse("f.yaml", src)
		if file == nil {
			t.Fatal("nil file")
		}
		errs := Lint([]*File{file})
		var b bytes.Buffer
		_ = WriteReport(&b, errs, map[string][]byte{"f.yaml": src})
		for _, e := range errs {
			if e.Line < 1 || e.Col < 1 || e.Rule == "" {
				t.Fatalf("bad position or rule: %+v", e)
			}
		}
	})
}
