package analytics

import "github.com/nudge-engine/nudge/campaigns"

// SQL of the dashboard. $1 is the campaign id, $2 the version ("" = all)
// and, in the funnel and goal queries, $3 the earliest run start counted and
// $4, $5 a split step and variant: only the runs that the split sent down
// that variant ("" = every run).
// acceptedIsDelivered: Telegram, VK and Instagram report no delivery; a
// message they accepted for a reachable chat counts as delivered (as in the
// fallback ladder). The list is channels.HasDeliveryReceipts in SQL; a test
// holds the two together.
const acceptedIsDelivered = `(sent_at IS NOT NULL AND status <> 'failed' AND channel IN ('telegram', 'vk', 'instagram'))`

const (
	runsOf = `FROM flow_runs r WHERE r.campaign_id = $1 AND ($2 = '' OR r.campaign_version = $2) AND r.started_at >= $3
	            AND ($4::text = '' OR r.context->'` + campaigns.SplitContextKey + `'->>$4::text = $5::text)`

	qCampaigns = `SELECT c.id, coalesce(c.current_version, '') AS current_version, c.archived_at,
	                     (SELECT count(*) FROM campaign_versions v WHERE v.campaign_id = c.id) AS versions,
	                     (SELECT count(*) FROM flow_runs r WHERE r.campaign_id = c.id) AS runs
	                FROM campaigns c ORDER BY c.archived_at NULLS FIRST, c.id`
	qVersions = `SELECT v.version, v.number, v.created_at,
	                    (SELECT count(*) FROM flow_runs r WHERE r.campaign_id = v.campaign_id AND r.campaign_version = v.version) AS runs
	               FROM campaign_versions v WHERE v.campaign_id = $1 ORDER BY v.number DESC`

	// One row per run with what happened to it, then counted.
	// A run's messages are its subscriber's (messages has no index of its
	// own on run_id, migration 00036): joined by both, messages_cap finds
	// a small campaign's few.
	qFunnel = `WITH runs AS (SELECT r.id, r.subscriber_id, r.holdout ` + runsOf + `),
	  m AS (SELECT m.run_id,
	               bool_or(m.sent_at IS NOT NULL) AS sent,
	               bool_or(m.delivered_at IS NOT NULL OR m.read_at IS NOT NULL OR ` + acceptedIsDelivered + `) AS delivered,
	               bool_or(m.read_at IS NOT NULL) AS read,
	               bool_and(m.status = 'skipped') AS skipped,
	               bool_or(m.status = 'unknown') AS unknown
	          FROM runs JOIN messages m ON m.subscriber_id = runs.subscriber_id AND m.run_id = runs.id
	         GROUP BY m.run_id),
	  rp AS (SELECT run_id, bool_or(sentiment = 'positive') AS pos, bool_or(sentiment = 'negative') AS neg,
	                bool_or(sentiment = 'neutral') AS neu
	           FROM replies WHERE run_id IN (SELECT id FROM runs) GROUP BY run_id),
	  ho AS (SELECT DISTINCT unnest(run_ids) AS run_id FROM conversations),
	  cl AS (SELECT DISTINCT m.run_id FROM links l JOIN messages m ON m.idempotency_key = l.message_key
	          WHERE l.campaign_id = $1 AND l.clicks > 0 AND m.run_id IN (SELECT id FROM runs))
	  SELECT count(*) FILTER (WHERE NOT runs.holdout) AS audience,
	         count(*) FILTER (WHERE runs.holdout) AS holdout,
	         count(*) FILTER (WHERE m.sent) AS sent,
	         count(*) FILTER (WHERE m.delivered) AS delivered,
	         count(*) FILTER (WHERE m.read) AS read,
	         count(cl.run_id) AS clicked,
	         count(rp.run_id) AS replied,
	         count(*) FILTER (WHERE rp.pos) AS positive,
	         count(*) FILTER (WHERE rp.neg) AS negative,
	         count(*) FILTER (WHERE rp.neu) AS neutral,
	         count(*) FILTER (WHERE ho.run_id IS NOT NULL) AS handed_off,
	         count(*) FILTER (WHERE m.skipped) AS skipped,
	         count(*) FILTER (WHERE m.unknown) AS unknown
	    FROM runs LEFT JOIN m ON m.run_id = runs.id LEFT JOIN rp ON rp.run_id = runs.id
	    LEFT JOIN ho ON ho.run_id = runs.id LEFT JOIN cl ON cl.run_id = runs.id`

	// $6 goal event, $7 window in seconds from the run's start.
	qGoal = `WITH g AS (SELECT r.holdout, EXISTS (SELECT 1 FROM subscriber_events e
	                       WHERE e.subscriber_id = r.subscriber_id AND e.name = $6
	                         AND e.occurred_at >= r.started_at
	                         AND e.occurred_at <= r.started_at + make_interval(secs => $7)) AS reached ` + runsOf + `)
	  SELECT count(*) FILTER (WHERE NOT holdout) AS treated_runs,
	         count(*) FILTER (WHERE NOT holdout AND reached) AS treated_reached,
	         count(*) FILTER (WHERE holdout) AS holdout_runs,
	         count(*) FILTER (WHERE holdout AND reached) AS holdout_reached
	    FROM g`

	qReactions = `SELECT count(*) AS n,
	                     percentile_cont(0.5) WITHIN GROUP (ORDER BY reaction_ms) / 1000.0 AS p50,
	                     percentile_cont(0.9) WITHIN GROUP (ORDER BY reaction_ms) / 1000.0 AS p90
	                FROM replies WHERE campaign_id = $1 AND ($2 = '' OR campaign_version = $2) AND reaction_ms IS NOT NULL`
	qReactionBuckets = `WITH b(label, lo, hi, ord) AS (VALUES
	      ('< 5 min', 0, 300000, 1), ('5–30 min', 300000, 1800000, 2), ('30 min–2 h', 1800000, 7200000, 3),
	      ('2–24 h', 7200000, 86400000, 4), ('> 24 h', 86400000, 9223372036854775807, 5))
	    SELECT b.label, count(r.id) AS n FROM b
	      LEFT JOIN replies r ON r.campaign_id = $1 AND ($2 = '' OR r.campaign_version = $2)
	           AND r.reaction_ms >= b.lo AND r.reaction_ms < b.hi
	     GROUP BY b.label, b.ord ORDER BY b.ord`

	qChannels = `SELECT channel,
	                    count(*) FILTER (WHERE attempt = 0 AND status <> 'skipped') AS first,
	                    count(*) FILTER (WHERE attempt > 0 AND status <> 'skipped') AS fallback,
	                    count(*) FILTER (WHERE delivered_at IS NOT NULL OR read_at IS NOT NULL OR ` + acceptedIsDelivered + `) AS delivered,
	                    count(*) FILTER (WHERE status = 'failed') AS failed
	               FROM messages WHERE campaign_id = $1 AND ($2 = '' OR campaign_version = $2)
	              GROUP BY channel ORDER BY count(*) FILTER (WHERE status <> 'skipped') DESC, channel`

	// A subscriber's opt-in source is the source of their first opt-in (a
	// Viber customer who came from the account page grants again from the
	// dialog: counted once, as the account's). $1: first opt-ins since.
	qSources = `WITH first AS (SELECT DISTINCT ON (subscriber_id) subscriber_id, channel, created_at,
	                   coalesce(nullif(proof->'attribution'->>'utm_source', ''), nullif(proof->>'utm_source', ''), source) AS source
	              FROM consent_events WHERE granted ORDER BY subscriber_id, id)
	  SELECT source, channel, count(*) AS n FROM first WHERE created_at >= $1
	   GROUP BY 1, 2 ORDER BY n DESC, 1, 2`

	// Tracked links by step and channel: the sent messages of the runs that
	// started at or after $3, and what their links got (links.clicks are a
	// person's, bot_clicks link-preview fetches).
	qClicks = `WITH m AS (SELECT m.step_id, m.channel, m.idempotency_key FROM messages m
	                      JOIN flow_runs r ON r.id = m.run_id AND r.started_at >= $3
	                     WHERE m.campaign_id = $1 AND ($2 = '' OR m.campaign_version = $2) AND m.sent_at IS NOT NULL),
	  l AS (SELECT message_key, sum(clicks) AS clicks, sum(bot_clicks) AS bots FROM links
	         WHERE campaign_id = $1 AND ($2 = '' OR campaign_version = $2) GROUP BY message_key)
	  SELECT m.step_id AS step, m.channel, count(*) AS sent, count(l.message_key) AS with_links,
	         count(*) FILTER (WHERE l.clicks > 0) AS clicked, coalesce(sum(l.clicks), 0) AS clicks,
	         coalesce(sum(l.bots), 0) AS bot_clicks
	    FROM m LEFT JOIN l ON l.message_key = m.idempotency_key
	   GROUP BY 1, 2 HAVING count(l.message_key) > 0 ORDER BY 1, 2`

	// Channels that carried a sent message of the campaign.
	qSentChannels = `SELECT DISTINCT channel FROM messages
	                  WHERE campaign_id = $1 AND ($2 = '' OR campaign_version = $2) AND sent_at IS NOT NULL ORDER BY channel`
)
