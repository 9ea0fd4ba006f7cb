package consent_test

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestCurrentTableAgreesWithLedger replays random histories through
// consent's writers (grant, revoke, opt-out, import, block) and asks the
// ledger (CurrentSQL, the newest event) and the current-consent table the
// trigger keeps (AudienceSQL, ChannelsSQL+OnSQL, SourceSQL) the same
// questions for every subscriber, channel list and topic.
func TestCurrentTableAgreesWithLedger(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewSource(17))
	l := consent.NewLedger()
	chans := []channels.Kind{channels.Telegram, channels.Viber, channels.SMS}
	lists := [][]string{{"telegram"}, {"viber"}, {"sms"}, {"telegram", "viber"}, {"viber", "sms"}, {"telegram", "viber", "sms"}, {"telegram", "telegram"}}

	const n = 120
	subs := make([]int64, n)
	for i := range subs {
		sub := newSubscriber(t, d, fmt.Sprintf("replay-%d", i))
		subs[i] = sub
		addr := fmt.Sprintf("tg-replay-%d", i)
		d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, sub, addr)
		for k := rng.Intn(7); k > 0; k-- {
			s := step{topic: consent.Topics[rng.Intn(len(consent.Topics))], yes: rng.Intn(2) == 0}
			if rng.Intn(3) == 0 {
				s.ch = consent.AllChannels
			} else {
				s.ch = chans[rng.Intn(len(chans))]
			}
			switch r := rng.Intn(10); {
			case r < 4:
				s.do = "grant"
			case r < 6:
				s.do = "revoke"
			case r < 7:
				s.do = "optout"
			case r < 9:
				s.do = "import"
			default:
				s.do, s.ch = "block", channels.Telegram
			}
			if err := apply(ctx, d, l, sub, addr, s, at); err != nil {
				t.Fatalf("subscriber %d: %s: %v", i, s.do, err)
			}
		}
	}
	// Some writes in one statement of many rows: the trigger sees them as
	// one transition table.
	if _, err := consent.Import(ctx, d, []consent.Imported{{SubscriberID: subs[0], Topic: mkt, Granted: true},
		{SubscriberID: subs[1], Topic: mkt, Granted: false}, {SubscriberID: subs[0], Topic: mkt, Granted: false}}); err != nil {
		t.Fatal(err)
	}

	ids := pq.Array(subs)
	for _, topic := range consent.Topics {
		// The ledger's answer: on some channel of the list (CurrentSQL per
		// channel), and on any channel it has events for.
		for _, list := range lists {
			var ledger, table []int64
			q := `SELECT s.id FROM subscribers s WHERE s.id = ANY($1) AND `
			if err := d.Select(&ledger, q+`EXISTS (SELECT 1 FROM unnest($3::text[]) w(ch) WHERE `+consent.CurrentSQL("s.id", "w.ch", "$2")+`) ORDER BY 1`, ids, string(topic), pq.Array(list)); err != nil {
				t.Fatal(err)
			}
			if err := d.Select(&table, q+consent.AudienceSQL("s.id", "$3", "$2")+` ORDER BY 1`, ids, string(topic), pq.Array(list)); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ledger) != fmt.Sprint(table) {
				t.Errorf("%s on one of %v: ledger %v, table %v", topic, list, ledger, table)
			}
			var split []int64
			if err := d.Select(&split, `SELECT s.id FROM subscribers s LEFT JOIN `+consent.ChannelsSQL("$2")+` g ON g.subscriber_id = s.id
				WHERE s.id = ANY($1) AND EXISTS (SELECT 1 FROM unnest($3::text[]) w(ch) WHERE `+consent.OnSQL("g", "w.ch")+`) ORDER BY 1`,
				ids, string(topic), pq.Array(list)); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ledger) != fmt.Sprint(split) {
				t.Errorf("%s on one of %v: ledger %v, ChannelsSQL/OnSQL %v", topic, list, ledger, split)
			}
		}
		var ledger, table []int64
		if err := d.Select(&ledger, `SELECT s.id FROM subscribers s WHERE s.id = ANY($1) AND EXISTS (SELECT 1 FROM consent_state cs
			WHERE cs.subscriber_id = s.id AND cs.topic = $2 AND `+consent.CurrentSQL("s.id", "cs.channel", "$2")+`) ORDER BY 1`, ids, string(topic)); err != nil {
			t.Fatal(err)
		}
		if err := d.Select(&table, `SELECT s.id FROM subscribers s WHERE s.id = ANY($1) AND `+consent.AudienceSQL("s.id", "", "$2")+` ORDER BY 1`, ids, string(topic)); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ledger) != fmt.Sprint(table) {
			t.Errorf("%s on any channel: ledger %v, table %v", topic, ledger, table)
		}
		if len(ledger) == 0 || len(ledger) == n {
			t.Errorf("%s: %d of %d subscribers consent: the replay tests nothing", topic, len(ledger), n)
		}

		// The opt-in source: a channel (or '*') whose deciding event, by the
		// ledger, is a grant from the source.
		for _, src := range []consent.Source{consent.SourceAPI, consent.SourceImport} {
			var ledger, table []int64
			if err := d.Select(&ledger, `SELECT s.id FROM subscribers s WHERE s.id = ANY($1) AND EXISTS (
				SELECT 1 FROM consent_state cs WHERE cs.subscriber_id = s.id AND cs.topic = $2
				   AND (SELECT e.granted AND e.source = $3 FROM consent_events e WHERE e.subscriber_id = s.id AND e.topic = $2
				         AND e.channel IN (cs.channel, '*') ORDER BY e.id DESC LIMIT 1)) ORDER BY 1`,
				ids, string(topic), string(src)); err != nil {
				t.Fatal(err)
			}
			if err := d.Select(&table, `SELECT s.id FROM subscribers s WHERE s.id = ANY($1) AND `+consent.SourceSQL("s.id", "$2", "$3")+` ORDER BY 1`,
				ids, string(topic), pq.Array([]string{string(src)})); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ledger) != fmt.Sprint(table) {
				t.Errorf("%s granted by %s: ledger %v, table %v", topic, src, ledger, table)
			}
		}
	}

	// The table's '*' rows are the ledger's newest '*' events, row for row.
	rows := func(q string) string {
		var out []string
		r, err := d.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var sub int64
			var topic, src string
			var g bool
			if err := r.Scan(&sub, &topic, &g, &src); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d/%s/%v/%s", sub, topic, g, src))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	if v, tb := rows(`SELECT subscriber_id, topic, granted, source FROM consent_state WHERE channel = '*'`),
		rows(`SELECT subscriber_id, topic, granted, source FROM consent_current WHERE channel = '*'`); v != tb {
		t.Errorf("'*' rows differ:\nledger %s\ntable  %s", v, tb)
	}
}
