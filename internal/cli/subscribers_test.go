package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
)

func TestSubscribersImportCommand(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "list.txt")
	os.WriteFile(good, []byte("external_id,name,phone\nc-1,Анна,+79990000001\nc-2,Boris,+79990000002\n"), 0o644)
	os.WriteFile(bad, []byte("+79990000003\nnot a phone\n"), 0o644)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	cases := []struct {
		args    []string
		code    int
		stdout  string
		stderrs string
	}{
		{[]string{"subscribers", "import", good}, 0, "imported 2, updated 0, unchanged 0, rejected 0 rows\n", ""},
		{[]string{"subscribers", "import", good}, 0, "imported 0, updated 0, unchanged 2, rejected 0 rows\n", ""},
		{[]string{"subscribers", "import", bad}, 1, "imported 1, updated 0, unchanged 0, rejected 1 rows\n", "list.txt: line 2: phone: must be a phone number"},
		{[]string{"subscribers", "import", "--format", "xls", good}, 1, "", "--format"},
		{[]string{"subscribers", "import", filepath.Join(dir, "missing.csv")}, 1, "", "no such file"},
	}
	for _, c := range cases {
		code, out, errs := run(c.args...)
		if code != c.code || out != c.stdout || !strings.Contains(errs, c.stderrs) {
			t.Errorf("%v: code %d, stdout %q, stderr %q", c.args, code, out, errs)
		}
	}
	code, out, errs := run("apikeys", "create", "shop")
	if code != 0 || !strings.HasPrefix(out, "nk_") || !strings.Contains(errs, "cannot be shown again") {
		t.Fatalf("apikeys create: %d %q %q", code, out, errs)
	}
	if code, out, _ = run("apikeys", "list"); code != 0 || !strings.Contains(out, "shop") {
		t.Fatalf("apikeys list: %d %q", code, out)
	}
	if code, _, _ = run("apikeys", "revoke", "shop"); code != 0 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, errs = run("apikeys", "revoke", "shop"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("second revoke: %d %q", code, errs)
	}
}

// importCLI runs `nudge subscribers import` with args on a fresh database.
func importCLI(t *testing.T) func(args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
}

// importFails imports file through the CLI and wants exit code 1, stdout
// exactly out and stderr holding errPart.
func importFails(t *testing.T, run func(args ...string) (int, string, string), file, out, errPart string) {
	t.Helper()
	code, gotOut, errs := run("subscribers", "import", file)
	if code != 1 || gotOut != out || !strings.Contains(errs, errPart) {
		t.Fatalf("import %s: code %d, stdout %q, stderr %q; want 1, %q, %q", file, code, gotOut, errs, out, errPart)
	}
}

func TestSubscribersImportUnterminatedQuote(t *testing.T) {
	run := importCLI(t)
	// Line 3 opens a quote that line 4 closes: the record has the right number
	// of fields, so only the line break inside it gives it away.
	importFails(t, run, "testdata/import/unterminated.csv", "nothing was imported\n",
		"line 3: a quoted field is not closed on this line (it runs on to line 4)")
	// All or nothing: line 2 was valid, and it is not in the store either.
	if code, _, errs := run("subscribers", "get", "c-1"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("c-1 was written: code %d, stderr %q", code, errs)
	}
}

func TestSubscribersImportMultilineCell(t *testing.T) {
	run := importCLI(t)
	// Excel writes a cell typed on several lines as a quoted field holding
	// a line break: attributes keep it, a name is one line, and nothing here
	// is a quote left open (the file's rows end in CRLF, the cells in LF).
	importFails(t, run, "testdata/import/multiline.csv", "imported 3, updated 0, unchanged 0, rejected 1 rows\n",
		"line 6: name: must be on one line, but the cell holds a line break")
	for ext, want := range map[string]string{"c-1": `Звонить после 18:00;\nне раньше`, "c-2": `Домофон 12\nподъезд 3`, "c-4": `Нижний\nНовгород`} {
		if code, out, _ := run("subscribers", "get", ext); code != 0 || !strings.Contains(out, want) {
			t.Errorf("%s: code %d, want %q in\n%s", ext, code, want, out)
		}
	}
}

func TestSubscribersImportUnnamedColumns(t *testing.T) {
	run := importCLI(t)
	// Excel's trailing delimiters: columns without a name are read as empty,
	// and a value in one rejects its row, naming the column.
	file := filepath.Join(t.TempDir(), "export.csv")
	os.WriteFile(file, []byte("external_id;name;phone;;\r\nu-1;Анна;+79990000011;;\r\nu-2;Борис;+79990000012;oops;\r\n"), 0o644)
	importFails(t, run, file, "imported 1, updated 0, unchanged 0, rejected 1 rows\n",
		"line 3: column 4: has a value, but the column has no name in the header")
}

func TestSubscribersImportRussianHeader(t *testing.T) {
	run := importCLI(t)
	// A CRM's export names its columns in Russian: they are read as the
	// columns they are, and a rejection names the column as the file does.
	importFails(t, run, "testdata/import/bitrix-ru.csv", "imported 1, updated 0, unchanged 0, rejected 1 rows\n",
		"line 3: телефон: the same address is on line 2")
	if code, out, _ := run("subscribers", "get", "b-1"); code != 0 || !strings.Contains(out, "+79121000021") ||
		!strings.Contains(out, "anna@mail.ru") || !strings.Contains(out, "Анна Иванова") {
		t.Fatalf("b-1: %d %s", code, out)
	}
	file := filepath.Join(t.TempDir(), "twice.csv")
	os.WriteFile(file, []byte("Имя,Name,Телефон\n"), 0o644)
	importFails(t, run, file, "nothing was imported\n", `name: column appears twice in the header: "имя" is the same column`)
	os.WriteFile(file, []byte("Телефон,Город\n"), 0o644)
	importFails(t, run, file, "nothing was imported\n", "город: unknown column; known columns are")
}

func TestSubscribersImportDelimiter(t *testing.T) {
	run := importCLI(t)
	// Excel in a Russian locale: BOM, ';', CRLF, a quoted field holding a ';'.
	code, out, errs := run("subscribers", "import", "--delimiter", ",", "testdata/import/excel-semicolon.csv")
	if code != 1 || !strings.Contains(errs, `line 1: column 1: "external_id;name;phone;attr.city" is not a column name; it holds a ';'`) ||
		!strings.Contains(errs, "--delimiter") {
		t.Fatalf("forced comma: code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = run("subscribers", "import", "testdata/import/excel-semicolon.csv")
	if code != 0 || out != "imported 2, updated 0, unchanged 0, rejected 0 rows\n" {
		t.Fatalf("detected: code %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ = run("subscribers", "get", "c-2"); code != 0 || !strings.Contains(out, `"Борис; мл."`) || !strings.Contains(out, "Казань") {
		t.Fatalf("c-2: %d %s", code, out)
	}
	tsv := filepath.Join(t.TempDir(), "list.tsv")
	os.WriteFile(tsv, []byte("external_id\tname\nc-3\tВера, Ивановна\n"), 0o644)
	if code, out, errs = run("subscribers", "import", tsv); code != 0 || out != "imported 1, updated 0, unchanged 0, rejected 0 rows\n" {
		t.Fatalf("tab: code %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs = run("subscribers", "import", "--delimiter", "|", tsv); code != 1 || !strings.Contains(errs, "--delimiter: delimiter: must be") {
		t.Fatalf("bad flag: code %d, stderr %q", code, errs)
	}
}

func TestSubscribersImportDuplicates(t *testing.T) {
	run := importCLI(t)
	code, out, errs := run("subscribers", "import", "testdata/import/duplicates.csv")
	want := []string{
		`duplicates.csv: line 2: external_id: "c-1" is also on line 4; a file holds one row per subscriber, so none of these rows was imported`,
		`duplicates.csv: line 4: external_id: "c-1" is also on line 2;`,
		`duplicates.csv: line 5: phone: the same address is on line 3;`,
	}
	if code != 1 || out != "imported 1, updated 0, unchanged 0, rejected 3 rows\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}
	if code, _, _ := run("subscribers", "get", "c-1"); code != 1 {
		t.Fatalf("c-1 was imported from one of its two rows")
	}
}

func TestSubscribersImportRerun(t *testing.T) {
	run := importCLI(t)
	// Consent with proof, normalised addresses, rows keyed only by an address.
	code, out, errs := run("subscribers", "import", "testdata/import/rerun.csv")
	if code != 0 || out != "imported 4, updated 0, unchanged 0, rejected 0 rows\n" {
		t.Fatalf("first run: code %d, stdout %q, stderr %q", code, out, errs)
	}
	for i := 0; i < 2; i++ {
		code, out, errs = run("subscribers", "import", "testdata/import/rerun.csv")
		if code != 0 || out != "imported 0, updated 0, unchanged 4, rejected 0 rows\n" {
			t.Fatalf("re-run %d: code %d, stdout %q, stderr %q", i+1, code, out, errs)
		}
	}
	// A TXT list with a number twice: the repeat changes nothing either.
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("+79990000009\n+7 999 000-00-09\n"), 0o644)
	for i, want := range []string{"imported 1, updated 0, unchanged 1, rejected 0 rows\n", "imported 0, updated 0, unchanged 2, rejected 0 rows\n"} {
		if code, out, errs = run("subscribers", "import", list); code != 0 || out != want {
			t.Fatalf("txt run %d: code %d, stdout %q, stderr %q", i+1, code, out, errs)
		}
	}
	// One changed value is one updated row.
	changed := filepath.Join(t.TempDir(), "changed.csv")
	os.WriteFile(changed, []byte("external_id,attr.plan\nc-1,weekly\nc-2,monthly\n"), 0o644)
	if code, out, errs = run("subscribers", "import", changed); code != 0 || out != "imported 0, updated 1, unchanged 1, rejected 0 rows\n" {
		t.Fatalf("changed: code %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestSubscribersImportEncoding(t *testing.T) {
	run := importCLI(t)
	// Excel's "CSV" in a Russian locale: windows-1251 and ';'.
	code, out, errs := run("subscribers", "import", "testdata/import/cp1251.csv")
	if code != 1 || out != "nothing was imported\n" ||
		!strings.Contains(errs, "cp1251.csv: line 2: name: is not UTF-8 text") || !strings.Contains(errs, "--encoding windows-1251") {
		t.Fatalf("utf-8: code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = run("subscribers", "import", "--encoding", "windows-1251", "testdata/import/cp1251.csv")
	if code != 0 || out != "imported 2, updated 0, unchanged 0, rejected 0 rows\n" {
		t.Fatalf("windows-1251: code %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ = run("subscribers", "get", "c-2"); code != 0 || !strings.Contains(out, `"Борис Ёлкин"`) || !strings.Contains(out, "Казань") {
		t.Fatalf("c-2: %d %s", code, out)
	}
	koi := filepath.Join(t.TempDir(), "koi8.txt")
	os.WriteFile(koi, []byte("# \xf3\xf0\xe9\xf3\xef\xeb\n+79990000003\n"), 0o644) // "# СПИСОК" in KOI8-R
	if code, out, errs = run("subscribers", "import", "--encoding", "koi8-r", koi); code != 0 || out != "imported 1, updated 0, unchanged 0, rejected 0 rows\n" {
		t.Fatalf("koi8-r: code %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, errs = run("subscribers", "import", "--encoding", "latin-1", koi); code != 1 || !strings.Contains(errs, "encoding: must be one of utf-8, windows-1251, koi8-r") {
		t.Fatalf("bad encoding: code %d, stderr %q", code, errs)
	}
}

// An import, by the CLI or the API of `nudge serve`, stamps its rows on the
// process's flow clock (a scaled clock from 2025 here; at scale 1 the flow
// clock is the wall clock), as every other write does:
// the demo's clock runs fast, and a wall-clock created_at would lie beside
// its runs.
func TestImportStampsTheFlowClock(t *testing.T) {
	const start = "2025-01-01T00:00:00Z"
	wantYear := func(t *testing.T, d *sqlx.DB, ext string) {
		t.Helper()
		var created time.Time
		if err := d.Get(&created, `SELECT created_at FROM subscribers WHERE external_id = $1`, ext); err != nil {
			t.Fatal(err)
		}
		if created.UTC().Year() != 2025 {
			t.Fatalf("%s created_at %v, want the flow clock's 2025", ext, created)
		}
	}
	t.Run("cli", func(t *testing.T) {
		run := importCLI(t)
		t.Setenv("NUDGE_CLOCK_START", start)
		t.Setenv("NUDGE_CLOCK_SCALE", "2")
		file := filepath.Join(t.TempDir(), "one.csv")
		os.WriteFile(file, []byte("external_id,phone\nk-1,+79990000021\n"), 0o644)
		if code, out, errs := run("subscribers", "import", file); code != 0 {
			t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
		}
		d := sqlx.MustConnect("postgres", os.Getenv("NUDGE_DATABASE_URL"))
		defer d.Close()
		wantYear(t, d, "k-1")
	})
	t.Run("api", func(t *testing.T) {
		ss := serveStack(t, map[string]string{"NUDGE_CLOCK_START": start, "NUDGE_CLOCK_SCALE": "2"})
		_, key, err := ss.s.keys.Create(context.Background(), "shop", users.Admin)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", ss.base+"/v1/subscribers/import", strings.NewReader("external_id,phone\nk-2,+79990000022\n"))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"imported":1`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		wantYear(t, ss.s.db, "k-2")
	})
}
