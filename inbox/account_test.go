package inbox

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/internal/db"
)

// Two Telegram bots, one customer with an identity on each (the same chat
// id: a chat id is per bot). A run that wrote through brand-b hands off
// while the customer's newest message was to the main bot: the conversation
// records brand-b and the manager's reply goes through bot B. When the
// customer then writes to the main bot, the conversation records main and
// the next reply goes through bot A. Each bot is its wire fake behind the
// real adapter.
func TestManagerReplyGoesThroughTheConversationsAccount(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	botA, botB := telegramfake.New(), telegramfake.New()
	t.Cleanup(botA.Close)
	t.Cleanup(botB.Close)
	botB.Token = "7098765432:BBFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d"
	bots := channels.NewRegistry()
	bots.AddAccount("main", telegram.New(telegram.Config{Bot: channels.Bot{Token: botA.Token, APIURL: botA.URL}}, nil))
	bots.AddAccount("brand-b", telegram.New(telegram.Config{Bot: channels.Bot{Token: botB.Token, APIURL: botB.URL}}, nil))
	e.svc.outbox, _ = engineOn(t, e.db, e.now, bots.Senders()...)
	var mgr int64
	e.db.QueryRow(`INSERT INTO users (email, role, password_hash) VALUES ('m@x.example', 'manager', 'x') RETURNING id`).Scan(&mgr)
	const chat = 770001
	subID, run := e.waitingSubscriber(t, strconv.Itoa(chat), e.now.Add(-time.Hour))
	e.db.MustExec(`UPDATE channel_identities SET last_inbound_at = $2 WHERE subscriber_id = $1`, subID, e.now.Add(-time.Minute))
	e.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, account, address, last_inbound_at) VALUES ($1, 'telegram', 'brand-b', $2, $3)`,
		subID, strconv.Itoa(chat), e.now.Add(-2*time.Hour))
	e.db.MustExec(`UPDATE messages SET account = 'brand-b' WHERE run_id = $1`, run)
	e.db.MustExec(`UPDATE flow_runs SET state = 'active', step_id = 'care' WHERE id = $1`, run)
	if err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		if _, err := e.runs.PauseRun(ctx, tx, run, 3); err != nil {
			return err
		}
		return Handoffs{}.HandOff(ctx, tx, run, "care", 3, "care", "Негативный отзыв", *e.now)
	}); err != nil {
		t.Fatal(err)
	}
	var conv int64
	var account string
	if err := e.db.QueryRow(`SELECT id, account FROM conversations WHERE subscriber_id = $1 AND state = 'open'`, subID).Scan(&conv, &account); err != nil || account != "brand-b" {
		t.Fatalf("conversation account %q %v, want brand-b", account, err)
	}
	if err := e.svc.Reply(ctx, conv, mgr, ReplyRequest{Text: "Извините!", RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if a, b := botA.SentTo(chat), botB.SentTo(chat); len(a) != 0 || len(b) != 1 || b[0].Text != "Извините!" {
		t.Fatalf("after the hand-off: bot A sent %+v, bot B %+v", a, b)
	}

	// The customer writes to the main bot: the conversation follows.
	*e.now = e.now.Add(time.Minute)
	ev := text(strconv.Itoa(chat), "u-1", "Я здесь", *e.now)
	ev.Account = "main"
	if err := e.router.Reply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(`SELECT account FROM conversations WHERE id = $1`, conv).Scan(&account); err != nil || account != "main" {
		t.Fatalf("conversation account %q %v after the customer wrote to main", account, err)
	}
	if err := e.svc.Reply(ctx, conv, mgr, ReplyRequest{Text: "Отвечаем здесь", RequestID: "r2"}); err != nil {
		t.Fatal(err)
	}
	if a, b := botA.SentTo(chat), botB.SentTo(chat); len(a) != 1 || a[0].Text != "Отвечаем здесь" || len(b) != 1 {
		t.Fatalf("after the customer's message: bot A sent %+v, bot B %+v", a, b)
	}
}
