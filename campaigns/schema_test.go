package campaigns

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files")

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

// yamlToJSONValue reads YAML as a JSON value, as yaml-language-server does.
func yamlToJSONValue(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaValidatesExamples(t *testing.T) {
	s := compileSchema(t)
	paths, _ := filepath.Glob("../examples/growfood/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no examples")
	}
	segs, _ := filepath.Glob("../examples/segments/*.yaml")
	if len(segs) == 0 {
		t.Fatal("no segment examples")
	}
	paths = append(paths, segs...)
	for _, p := range append(paths, "testdata/schema/all-features.yaml") {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlToJSONValue(t, src)); err != nil {
			t.Errorf("%s does not validate: %v", p, err)
		}
	}
}

func TestSchemaRejectsBadFiles(t *testing.T) {
	schemaRejects(t, base, map[string][2]string{
		"unknown field":             {"  channels:", "  chanels:"},
		"bad topic":                 {"topic: service", "topic: promo"},
		"two actions":               {"    send: {template: t}\n", "    send: {template: t}\n    end: {}\n"},
		"bad channel":               {"[telegram]", "[telegrm]"},
		"bad duration":              {"  api: {}", "  event: {name: x, delay: 7days}"},
		"two triggers":              {"  api: {}", "  api: {}\n  event: {name: x}"},
		"unknown template channel":  {"    telegram:\n", "    telegramm:\n"},
		"segment field in campaign": {"topic: service", "topic: service\nreachable: [telegram]"},
		"segment kind typo":         {"id: c", "kind: segmnt\nid: c"},
	})
}

// schemaRejects checks that the schema takes src and refuses it with each
// of edits applied, a subtest each.
func schemaRejects(t *testing.T, src string, edits map[string][2]string) {
	t.Helper()
	s := compileSchema(t)
	if err := s.Validate(yamlToJSONValue(t, []byte(src))); err != nil {
		t.Fatalf("base does not validate: %v\n%s", err, src)
	}
	for name, e := range edits {
		t.Run(name, func(t *testing.T) {
			bad := edited(t, src, [][2]string{e})
			if err := s.Validate(yamlToJSONValue(t, []byte(bad))); err == nil {
				t.Errorf("bad file validates:\n%s", bad)
			}
		})
	}
}

func TestSchemaDocumentsEveryField(t *testing.T) {
	for _, f := range SchemaFields() {
		if _, ok := docs[f]; !ok {
			t.Errorf("no description for %s", f)
		}
	}
}

// The schema editors load from the repository must match the code.
func TestSchemaGolden(t *testing.T) {
	const path = "../docs/campaign.schema.json"
	if *update {
		if err := os.WriteFile(path, Schema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./campaigns -run TestSchemaGolden -update)", err)
	}
	if !bytes.Equal(got, Schema()) {
		t.Errorf("%s is stale: run go test ./campaigns -run TestSchemaGolden -update", path)
	}
}

// A segment document validates against the Segment branch of the schema,
// and a campaign key in it does not.
func TestSchemaSegments(t *testing.T) {
	s := compileSchema(t)
	src, err := os.ReadFile("../examples/segments/weekly-eaters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(yamlToJSONValue(t, src)); err != nil {
		t.Fatalf("segment does not validate: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(string(src), "channels: [telegram, sms]", "channels: [telegram, smss]", 1),
		strings.Replace(string(src), "opt_in_source: [widget, jwt_link]", "opt_in_source: [shop]", 1),
		string(src) + "steps: []\n",
		strings.Replace(string(src), "name: Weekly eaters\n", "", 1),
	} {
		if err := s.Validate(yamlToJSONValue(t, []byte(bad))); err == nil {
			t.Errorf("bad segment validates:\n%s", bad)
		}
	}
}
