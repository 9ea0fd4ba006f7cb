package subscribers

// Import SQL. A file is COPYed whole into the session's temporary table
// import_rows (one row per data row, its identities as two parallel arrays),
// checked set-based as a whole, and then merged into the store in
// transactions of ImportOptions.BatchSize rows: $1 and $2 bound a batch by
// ord (lo inclusive, hi exclusive).
const (
	qImportDropTables = `DROP TABLE IF EXISTS pg_temp.import_rows`

	// Half of each page is left free so that setting a row's subscriber_id
	// and flags is a HOT update (no indexed column changes): the merge
	// updates every row once.
	qImportCreateRows = `
CREATE TEMP TABLE import_rows (
    ord           int NOT NULL,
    line          bigint NOT NULL,
    external_id   text,
    name          text,
    locale        text,
    time_zone     text,
    attributes    jsonb NOT NULL,
    marketing     boolean,
    service       boolean,
    proof         jsonb,
    channels      text[] NOT NULL,
    addresses     text[] NOT NULL,
    subscriber_id bigint,
    created       boolean NOT NULL DEFAULT false,
    changed       boolean NOT NULL DEFAULT false,
    rejected      boolean NOT NULL DEFAULT false,
    repeat        boolean NOT NULL DEFAULT false
) WITH (fillfactor = 50)`

	// The key is built after the COPY (cheaper than maintaining it row by
	// row), and temporary tables get no statistics from autovacuum (the
	// planner needs row counts and the key columns, not the jsonb and arrays).
	// A row's identities are unnested where they are used, which costs less
	// than a table of them with its own index and statistics. They are
	// unnested in the select list, where the two arrays are zipped in step
	// (ProjectSet): unnest(channels, addresses) in FROM fills a tuplestore
	// for every row, about three times the cost (1M rows: 1.1 s against
	// 3.8 s).
	qImportPrepare = `
ALTER TABLE import_rows ADD PRIMARY KEY (ord);
ANALYZE import_rows (ord, external_id, subscriber_id)`

	// Two rows of one file with the same external_id: every one is rejected,
	// since the file does not say which is right. The repeated keys are found
	// by counting alone, which hashes; array_agg(... ORDER BY) makes the
	// planner sort every row by key (1M rows: 2.5 s against 1.1 s), so it
	// runs on the rows of repeated keys only.
	qImportDuplicateKeys = `
WITH k AS (
    SELECT external_id FROM import_rows WHERE external_id IS NOT NULL
     GROUP BY external_id HAVING count(*) > 1),
d AS (
    SELECT r.external_id, array_agg(r.line ORDER BY r.line) AS lines
      FROM import_rows r JOIN k ON k.external_id = r.external_id
     GROUP BY r.external_id)
UPDATE import_rows r SET rejected = true
  FROM d
 WHERE r.external_id = d.external_id
RETURNING r.line, r.external_id, d.lines`

	// A row sharing an address with an earlier row of the file is a repeat
	// (skipped, counted unchanged) when it has no external_id and says exactly
	// what the earlier row says, as a TXT list with a number twice; otherwise it
	// is rejected, naming the earlier row. $1 holds one channel per identity
	// column (leadChannels): the channels of a column share its address, so
	// the others would only find the same rows again.
	qImportDuplicateAddresses = `
WITH ids AS (
    SELECT u.ord, u.channel, u.address
      FROM (SELECT r.ord, unnest(r.channels) AS channel, unnest(r.addresses) AS address
              FROM import_rows r WHERE NOT r.rejected) u
     WHERE u.channel = ANY($1)),
first AS (
    SELECT channel, address, min(ord) AS ord
      FROM ids
     GROUP BY channel, address HAVING count(*) > 1),
later AS (
    SELECT DISTINCT ON (i.ord) i.ord, i.channel, f.ord AS first
      FROM ids i JOIN first f ON f.channel = i.channel AND f.address = i.address AND i.ord > f.ord
     ORDER BY i.ord, f.ord)
UPDATE import_rows r SET rejected = true,
       repeat = r.external_id IS NULL
            AND (r.name, r.locale, r.time_zone, r.attributes, r.marketing, r.service, r.channels, r.addresses)
                IS NOT DISTINCT FROM (f.name, f.locale, f.time_zone, f.attributes, f.marketing, f.service, f.channels, f.addresses)
  FROM later l JOIN import_rows f ON f.ord = l.first
 WHERE r.ord = l.ord AND NOT r.rejected
RETURNING r.line, r.repeat, l.channel, f.line AS first_line`

	// Keyed rows find their subscriber by external_id.
	qImportResolveKeyed = `
UPDATE import_rows r SET subscriber_id = s.id
  FROM subscribers s
 WHERE r.ord >= $1 AND r.ord < $2 AND NOT r.rejected
   AND r.external_id IS NOT NULL AND s.external_id = r.external_id`

	// Rows without external_id find their subscriber by any of their identities.
	qImportResolveKeyless = `
UPDATE import_rows r SET subscriber_id = m.sid
  FROM (SELECT i.ord, min(ci.subscriber_id) AS sid
          FROM (SELECT k.ord, unnest(k.channels) AS channel, unnest(k.addresses) AS address
                  FROM import_rows k
                 WHERE k.ord >= $1 AND k.ord < $2 AND NOT k.rejected AND k.external_id IS NULL) i
          JOIN channel_identities ci ON ci.channel = i.channel AND ci.account = 'main' AND ci.address = i.address
         GROUP BY i.ord) m
 WHERE r.ord = m.ord`

	// A row one of whose identities is bound to another subscriber is rejected.
	// "Another" is judged by external_id too: a concurrent import may have
	// created this row's subscriber (and bound its identities) after the row
	// was resolved; that row then becomes an update (see qImportLostRaces).
	// $3 = false checks the rows resolved to existing subscribers, before ids
	// are assigned; the rows that will create subscribers are checked
	// ($3 = true) only when their plain insert met a unique violation, since
	// an address bound to anyone makes that insert fail (see
	// qImportSavepoint). Driven by the batch's rows, one index probe per
	// identity, not by a join over the whole store.
	qImportRejectConflicts = `
UPDATE import_rows r SET rejected = true, created = false
  FROM (SELECT i.ord, i.channel
          FROM (SELECT k.ord, k.subscriber_id, k.external_id, unnest(k.channels) AS channel, unnest(k.addresses) AS address
                  FROM import_rows k
                 WHERE k.ord >= $1 AND k.ord < $2 AND k.created = $3 AND k.subscriber_id IS NOT NULL AND NOT k.rejected) i
          JOIN channel_identities ci ON ci.channel = i.channel AND ci.account = 'main' AND ci.address = i.address
          JOIN subscribers s ON s.id = ci.subscriber_id
         WHERE ci.subscriber_id <> i.subscriber_id
           AND (i.external_id IS NULL OR s.external_id IS DISTINCT FROM i.external_id)) c
 WHERE r.ord = c.ord
RETURNING r.line, c.channel`

	// The sequence is looked up once (an InitPlan): pg_get_serial_sequence in
	// the SET list runs for every row and scans pg_depend each time (200k
	// rows: 1.1 s against 0.34 s).
	qImportAssignIDs = `
UPDATE import_rows SET subscriber_id = nextval((SELECT pg_get_serial_sequence('subscribers', 'id')::regclass)), created = true
 WHERE ord >= $1 AND ord < $2 AND subscriber_id IS NULL AND NOT rejected`

	// The whole-file checks group every staged row and identity, and the
	// merge sorts and hashes whole batches (50,000 rows, 150,000
	// identities): the default 4 MB spills them to disk.
	qImportWorkMem = `SET LOCAL work_mem = '64MB'`

	// The fast path for a batch's new subscribers and their identities: plain
	// inserts, cheaper than ON CONFLICT's speculative insertion, inside a
	// savepoint. A unique violation means another writer created one of these
	// external ids or bound one of these addresses since the batch was
	// resolved; the batch then rolls back to the savepoint and takes the
	// conflict-tolerant statements below.
	qImportSavepoint         = `SAVEPOINT import_new`
	qImportRollbackSavepoint = `ROLLBACK TO SAVEPOINT import_new`
	qImportReleaseSavepoint  = `RELEASE SAVEPOINT import_new`

	qImportInsertNewSubscribers = `
INSERT INTO subscribers (id, external_id, name, locale, time_zone, attributes, created_at, updated_at)
SELECT subscriber_id, external_id, COALESCE(name, ''), COALESCE(locale, 'ru'), COALESCE(time_zone, 'Europe/Moscow'), attributes, $3, $3
  FROM import_rows WHERE ord >= $1 AND ord < $2 AND created
 ORDER BY ord`

	// In the unique index's order, so each index page is visited once.
	qImportInsertNewIdentities = `
INSERT INTO channel_identities (subscriber_id, channel, address, created_at)
SELECT i.subscriber_id, i.channel, i.address, $3
  FROM (SELECT r.subscriber_id, unnest(r.channels) AS channel, unnest(r.addresses) AS address
          FROM import_rows r WHERE r.ord >= $1 AND r.ord < $2 AND r.created) i
 ORDER BY i.channel, i.address`

	// The conflict-tolerant path. Returns how many rows it inserted; fewer
	// than assigned means another writer created some of these external ids
	// since they were resolved.
	qImportInsertSubscribers = `
WITH ins AS (
    INSERT INTO subscribers (id, external_id, name, locale, time_zone, attributes, created_at, updated_at)
    SELECT subscriber_id, external_id, COALESCE(name, ''), COALESCE(locale, 'ru'), COALESCE(time_zone, 'Europe/Moscow'), attributes, $3, $3
      FROM import_rows WHERE ord >= $1 AND ord < $2 AND created
     ORDER BY ord
    ON CONFLICT (external_id) DO NOTHING
    RETURNING 1)
SELECT count(*) FROM ins`

	// An address a concurrent writer bound meanwhile is skipped for that row
	// (see qImportRejectConflicts for the addresses bound before).
	qImportInsertNewIdentitiesOnConflict = qImportInsertNewIdentities + `
ON CONFLICT (channel, account, address) DO NOTHING`

	// Rows that lost that race become updates of the subscriber that won.
	qImportLostRaces = `
UPDATE import_rows r SET subscriber_id = s.id, created = false
  FROM subscribers s
 WHERE r.ord >= $1 AND r.ord < $2 AND r.created AND s.external_id = r.external_id AND s.id <> r.subscriber_id`

	// Existing subscribers are written only when something differs, so a
	// re-run of the same file changes nothing (not even updated_at).
	qImportUpdateSubscribers = `
WITH u AS (
    UPDATE subscribers s SET
        name       = COALESCE(r.name, s.name),
        locale     = COALESCE(r.locale, s.locale),
        time_zone  = COALESCE(r.time_zone, s.time_zone),
        attributes = s.attributes || r.attributes,
        updated_at = $3
      FROM import_rows r
     WHERE r.ord >= $1 AND r.ord < $2 AND r.subscriber_id = s.id AND NOT r.created AND NOT r.rejected
       AND (COALESCE(r.name, s.name), COALESCE(r.locale, s.locale), COALESCE(r.time_zone, s.time_zone), s.attributes || r.attributes)
           IS DISTINCT FROM (s.name, s.locale, s.time_zone, s.attributes)
    RETURNING s.id)
UPDATE import_rows r SET changed = true FROM u
 WHERE r.ord >= $1 AND r.ord < $2 AND r.subscriber_id = u.id AND NOT r.created AND NOT r.rejected`

	// New identities of existing subscribers mark their rows changed.
	qImportInsertIdentities = `
WITH ins AS (
    INSERT INTO channel_identities (subscriber_id, channel, address, created_at)
    SELECT i.subscriber_id, i.channel, i.address, $3
      FROM (SELECT r.subscriber_id, unnest(r.channels) AS channel, unnest(r.addresses) AS address
              FROM import_rows r WHERE r.ord >= $1 AND r.ord < $2 AND NOT r.rejected AND NOT r.created) i
     ORDER BY i.channel, i.address
    ON CONFLICT (channel, account, address) DO NOTHING
    RETURNING subscriber_id)
UPDATE import_rows r SET changed = true FROM ins
 WHERE r.ord >= $1 AND r.ord < $2 AND r.subscriber_id = ins.subscriber_id AND NOT r.created AND NOT r.rejected`

	// The batch's rows with a consent statement, for consent.Import.
	qImportHasConsent = `SELECT EXISTS (SELECT 1 FROM import_rows WHERE NOT rejected AND (marketing IS NOT NULL OR service IS NOT NULL))`

	qImportConsentRows = `
SELECT subscriber_id, marketing, service, COALESCE(proof::text, '') AS proof FROM import_rows
 WHERE ord >= $1 AND ord < $2 AND NOT rejected AND (marketing IS NOT NULL OR service IS NOT NULL)
 ORDER BY ord`

	qImportConsentChanged = `
UPDATE import_rows SET changed = true
 WHERE ord >= $1 AND ord < $2 AND subscriber_id = ANY($3) AND NOT created AND NOT rejected`

	// Repeats (see qImportDuplicateAddresses) count as unchanged.
	qImportCounts = `
SELECT count(*) FILTER (WHERE created) AS created,
       count(*) FILTER (WHERE changed AND NOT created AND NOT rejected) AS updated,
       count(*) FILTER (WHERE repeat OR NOT (changed OR created OR rejected)) AS unchanged,
       coalesce(max(line), 0) AS last_line
  FROM import_rows WHERE ord >= $1 AND ord < $2`

	// The whole-file checks' rejections of the rows of odd batches, which
	// the second connection merges (importlanes.go); $1 is the batch size.
	qImportLaneRejected = `
SELECT coalesce(array_agg(ord ORDER BY ord), '{}') AS ords, coalesce(array_agg(repeat ORDER BY ord), '{}') AS repeats
  FROM import_rows WHERE rejected AND (ord / $1) % 2 = 1`

	qImportLaneReject = `
UPDATE import_rows r SET rejected = true, repeat = f.repeat
  FROM unnest($1::int[], $2::boolean[]) AS f(ord, repeat)
 WHERE r.ord = f.ord`

	// Whether a backend waits for a lock.
	qImportBlocked = `SELECT cardinality(pg_blocking_pids($1)) > 0`
)
