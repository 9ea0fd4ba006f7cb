package fakes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/instagram"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// The control API plays an Instagram customer as signed webhooks that the
// real adapter, configured from the Set's Env, accepts: the ig.me start, a
// text and a quick-reply press on the last message with buttons.
func TestInstagramActions(t *testing.T) {
	sink := &channeltest.Sink{}
	mux := http.NewServeMux()
	nudge := httptest.NewServer(mux)
	defer nudge.Close()
	f, err := fakes.Start(fakes.Options{BaseURL: nudge.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := f.Env()
	cfg := instagram.LoadConfig(channeltest.Env(env), "")
	mux.Handle(channels.WebhookPath(channels.Instagram, channels.DefaultAccount), instagram.NewWebhook(cfg, sink, nil))
	ctx := context.Background()
	if _, err := instagram.New(cfg, nil).Send(ctx, channels.Message{To: "ig7", Text: "Как вам еда?",
		Buttons: []channels.Button{{ID: "like", Text: "👍"}, {ID: "dislike", Text: "👎"}}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		action string
		act    fakes.Action
	}{
		{"start", fakes.Action{User: "ig7", Code: "GF-7K2Q"}},
		{"text", fakes.Action{User: "ig7", Text: "вкусно"}},
		{"press", fakes.Action{User: "ig7", Data: "dislike"}},
	} {
		if st, err := f.Do(ctx, channels.Instagram, a.action, a.act); err != nil || st != http.StatusOK {
			t.Fatalf("%s: %d %v", a.action, st, err)
		}
	}
	evs := sink.Events()
	if len(evs) != 3 || evs[0].Type != channels.EventStart || evs[0].Code != "GF-7K2Q" || evs[1].Text != "вкусно" ||
		evs[2].Type != channels.EventButton || evs[2].Payload != "dislike" || evs[2].Text != "👎" {
		t.Fatalf("%+v", evs)
	}
	msgs := f.Sent()
	if len(msgs) != 1 || msgs[0].Channel != "instagram" || len(msgs[0].Keys) != 2 {
		t.Fatalf("%+v", msgs)
	}
}
