package subscribers_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/nudge-engine/nudge/subscribers"
)

// A file mixing new and existing subscribers over batches of two rows: a
// batch of new rows only (which skips the statements for existing ones), a
// batch updating by external_id, one updating by identity, and a keyless new
// row. Importing it again changes nothing, in one batch or in several.
func TestImportMixedBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed := "external_id,name,phone\nc-2,Борис,+79990000002\n,Вера,+79990000010\n"
	if rep := importFile(t, b, subscribers.CSV, []byte(seed), 0); rep.Imported != 2 {
		t.Fatalf("seed: %s", rep.Summary())
	}
	file := "external_id,name,phone,telegram,attr.plan\n" +
		"n-1,A,+79990000101,,\n" + // batch 1: new only
		"n-2,B,+79990000102,,\n" +
		"c-2,,,5002,weekly\n" + // batch 2: update by external_id, and a new row
		"n-3,C,+79990000103,,\n" +
		",Вера Ивановна,+79990000010,,\n" + // batch 3: update by identity, and a new row
		"n-4,D,,5004,\n" +
		",,+79990000105,,\n" // batch 4: new, keyless
	rep := importFile(t, b, subscribers.CSV, []byte(file), 2)
	if rep.Imported != 5 || rep.Updated != 2 || rep.Unchanged != 0 || rep.Rejected != 0 || rep.WrittenThrough != 8 {
		t.Fatalf("%s, written through %d, %+v", rep.Summary(), rep.WrittenThrough, rep.Errors)
	}
	var ok bool
	if err := b.db.Get(&ok, `SELECT (SELECT count(*) FROM subscribers) = 7
		AND (SELECT count(*) FROM channel_identities) = 14
		AND (SELECT attributes->>'plan' FROM subscribers WHERE external_id = 'c-2') = 'weekly'
		AND EXISTS (SELECT 1 FROM channel_identities ci JOIN subscribers s ON s.id = ci.subscriber_id
		             WHERE s.external_id = 'c-2' AND ci.channel = 'telegram' AND ci.address = '5002')
		AND (SELECT name FROM subscribers s JOIN channel_identities ci ON ci.subscriber_id = s.id
		      WHERE ci.channel = 'sms' AND ci.address = '+79990000010') = 'Вера Ивановна'`); err != nil || !ok {
		t.Fatalf("store: %v %v", ok, err)
	}
	for _, batch := range []int{2, 0} {
		if rep := importFile(t, b, subscribers.CSV, []byte(file), batch); rep.Unchanged != 7 || rep.Imported+rep.Updated+rep.Rejected != 0 {
			t.Fatalf("again in batches of %d: %s", batch, rep.Summary())
		}
	}
}

// A batch that fails in the database rolls back whole: the batches before it
// stay, WrittenThrough names their last line, and nothing of the failed batch
// or after it is in the store.
func TestImportFailedBatchWritesNothingAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.db.MustExec(`CREATE FUNCTION fail_on_n5() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.external_id = 'n-5' THEN RAISE EXCEPTION 'test: n-5 refused'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fail_on_n5 BEFORE INSERT ON subscribers FOR EACH ROW EXECUTE FUNCTION fail_on_n5()`)
	file := "external_id,phone\n" +
		"n-1,+79990000201\nn-2,+79990000202\n" + // batch 1
		"n-3,+79990000203\nn-4,+79990000204\n" + // batch 2
		"n-5,+79990000205\nn-6,+79990000206\n" + // batch 3: n-5 fails it
		"n-7,+79990000207\n"
	im := subscribers.NewImporter(b.db, b.clock.Now)
	rep, err := im.Import(context.Background(), bytes.NewReader([]byte(file)), subscribers.ImportOptions{BatchSize: 2})
	if err == nil {
		t.Fatalf("import of a failing batch succeeded: %s", rep.Summary())
	}
	if rep.Imported != 4 || rep.WrittenThrough != 5 {
		t.Fatalf("%s, written through %d", rep.Summary(), rep.WrittenThrough)
	}
	var ids []string
	if err := b.db.Select(&ids, `SELECT external_id FROM subscribers ORDER BY external_id`); err != nil {
		t.Fatal(err)
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM channel_identities`)
	if len(ids) != 4 || ids[3] != "n-4" || n != 8 {
		t.Fatalf("store holds %v and %d identities", ids, n)
	}
}

// A file with consent columns larger than Postgres's lock table (6,400
// entries at the defaults, shared by every session): consent's writer locks
// each subscriber of a batch until commit, so at the default batch of 50,000
// this failed with "out of shared memory". The importer now merges such
// files in batches of consent.MaxImportSubscribers.
func TestImportConsentFileLargerThanTheLockTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 7_000
	var file bytes.Buffer
	file.WriteString("external_id,email,consent_marketing,consent_proof\n")
	for i := range n {
		fmt.Fprintf(&file, "c-%d,c%d@shop.example,true,\"{\"\"form\"\":\"\"checkout\"\"}\"\n", i, i)
	}
	rep := importFile(t, b, subscribers.CSV, file.Bytes(), 0)
	if rep.Imported != n || rep.Rejected != 0 || rep.WrittenThrough != n+1 {
		t.Fatalf("%s, written through %d, %+v", rep.Summary(), rep.WrittenThrough, rep.Errors)
	}
	var granted int
	if err := b.db.Get(&granted, `SELECT count(*) FROM consent_events WHERE source = 'import' AND granted`); err != nil || granted != n {
		t.Fatalf("consent events %d, %v", granted, err)
	}
}
