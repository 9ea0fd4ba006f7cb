package campaigns

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
)

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStoreApplyVersions(t *testing.T) {
	ctx := context.Background()
	s := NewStore(testenv.DB(t))

	v1, created, err := s.Apply(ctx, mustParse(t, base))
	if err != nil || !created || v1.Number != 1 || v1.Version != ContentVersion([]byte(base)) {
		t.Fatalf("first apply: %+v %v %v", v1, created, err)
	}
	again, created, err := s.Apply(ctx, mustParse(t, base))
	if err != nil || created || again.Version != v1.Version || again.Number != 1 {
		t.Fatalf("same content: %+v %v %v", again, created, err)
	}
	changed := strings.Replace(base, "name: C", "name: C2", 1)
	v2, created, err := s.Apply(ctx, mustParse(t, changed))
	if err != nil || !created || v2.Number != 2 || v2.Version == v1.Version {
		t.Fatalf("changed: %+v %v %v", v2, created, err)
	}
	cur, def, err := s.Current(ctx, "c")
	if err != nil || cur.Version != v2.Version || def.Name != "C2" {
		t.Fatalf("current: %+v %+v %v", cur, def, err)
	}
	// The old version stays readable (runs started on it keep it).
	old, err := s.Version(ctx, "c", v1.Version)
	if err != nil || old.Name != "C" || old.Trigger.API == nil || old.Steps[0].Send.Template != "t" {
		t.Fatalf("old version: %+v %v", old, err)
	}
	byNum, err := s.Get(ctx, "c", "1")
	if err != nil || byNum.Version.Version != v1.Version || byNum.Current {
		t.Fatalf("by number: %+v %v", byNum, err)
	}
	diff, err := s.Diff(ctx, "c", "1", "2")
	if err != nil || !strings.Contains(diff, "-name: C\n+name: C2\n") {
		t.Fatalf("diff: %q %v", diff, err)
	}
	// Re-applying the old content makes it current again without a new row.
	back, created, err := s.Apply(ctx, mustParse(t, base))
	if err != nil || created || back.Number != 1 {
		t.Fatalf("roll back: %+v %v %v", back, created, err)
	}
	if cur, _, _ := s.Current(ctx, "c"); cur.Version != v1.Version {
		t.Fatalf("current after roll back = %s", cur.Version)
	}
	vs, err := s.Versions(ctx, "c")
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions: %v %v", vs, err)
	}

	active, err := s.Active(ctx)
	if err != nil || len(active) != 1 {
		t.Fatalf("active: %v %v", active, err)
	}
	if err := s.Archive(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if active, _ := s.Active(ctx); len(active) != 0 {
		t.Fatalf("archived campaign still active: %v", active)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ArchivedAt == nil || list[0].Versions != 2 || list[0].Name != "C" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.Archive(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("archive unknown: %v", err)
	}
	if _, err := s.Get(ctx, "c", "deadbeef0000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
}

func TestStoreRefusesLintProblems(t *testing.T) {
	s := NewStore(testenv.DB(t))
	f, _ := Parse("c.yaml", []byte(strings.Replace(base, "{template: t}", "{template: x}", 1)))
	_, _, err := s.Apply(context.Background(), f)
	var p Problems
	if !errors.As(err, &p) || len(p) != 1 || p[0].Rule != "missing-template" {
		t.Fatalf("apply bad file: %v", err)
	}
	if list, _ := s.List(context.Background()); len(list) != 0 {
		t.Fatalf("bad file stored: %v", list)
	}
}

// A run that started on version 1 keeps it after version 2 is applied.
func TestStoreStartedRunsKeepTheirVersion(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	s := NewStore(d)
	v1, _, err := s.Apply(ctx, mustParse(t, base))
	if err != nil {
		t.Fatal(err)
	}
	var sub int64
	if err := d.Get(&sub, `INSERT INTO subscribers (external_id) VALUES ('x') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	d.MustExec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key) VALUES ('c', $1, $2, 'k')`, v1.Version, sub)
	if _, _, err := s.Apply(ctx, mustParse(t, strings.Replace(base, "{text: hi}", "{text: hello}", 1))); err != nil {
		t.Fatal(err)
	}
	var runVersion string
	if err := d.Get(&runVersion, `SELECT campaign_version FROM flow_runs WHERE trigger_key = 'k'`); err != nil {
		t.Fatal(err)
	}
	def, err := s.Version(ctx, "c", runVersion)
	if err != nil || def.Templates["t"]["telegram"]["ru"].Text != "hi" {
		t.Fatalf("run's version: %+v %v", def, err)
	}
	_, cur, _ := s.Current(ctx, "c")
	if cur.Templates["t"]["telegram"]["ru"].Text != "hello" {
		t.Fatalf("current: %+v", cur)
	}
}

// Concurrent applies of the same content create one version.
func TestStoreConcurrentApply(t *testing.T) {
	ctx := context.Background()
	s := NewStore(testenv.DB(t))
	const n = 8
	created := make(chan bool, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		f := mustParse(t, base)
		go func() {
			_, c, err := s.Apply(ctx, f)
			created <- c
			errs <- err
		}()
	}
	count := 0
	for i := 0; i < n; i++ {
		if <-created {
			count++
		}
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if count != 1 {
		t.Errorf("%d applies created a version, want 1", count)
	}
}
