package meta_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/internal/config"
)

func TestLoadAppSharesTheSecretAcrossProducts(t *testing.T) {
	env := map[string]string{
		"NUDGE_INSTAGRAM_API_URL": "http://127.0.0.1:9/v21.0/",
		"NUDGE_META_APP_SECRET":   "s", "NUDGE_META_VERIFY_TOKEN": "v",
	}
	e := channeltest.Env(env)
	ig, msg := meta.LoadApp(e, "INSTAGRAM"), meta.LoadApp(e, "MESSENGER")
	if ig != (meta.App{APIURL: "http://127.0.0.1:9/v21.0", AppSecret: "s", VerifyToken: "v"}) || msg.APIURL != meta.DefaultAPIURL || msg.AppSecret != "s" {
		t.Fatalf("instagram %+v, messenger %+v", ig, msg)
	}
	ig.RequireSecret(e, "NUDGE_INSTAGRAM_TOKEN", "tok")
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRequireSecretOnlyWithAToken(t *testing.T) {
	e := &config.Env{Lookup: func(string) (string, bool) { return "", false }}
	app := meta.LoadApp(e, "WHATSAPP")
	app.RequireSecret(e, "NUDGE_WHATSAPP_TOKEN", "")
	if err := e.Err(); err != nil {
		t.Fatalf("no token: %v", err)
	}
	app.RequireSecret(e, "NUDGE_WHATSAPP_SHOP2_TOKEN", "tok")
	want := "NUDGE_META_APP_SECRET: is required when NUDGE_WHATSAPP_SHOP2_TOKEN is set"
	if err := e.Err(); err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
