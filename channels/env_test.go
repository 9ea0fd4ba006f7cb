package channels_test

import (
	"math"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

func TestEnvVar(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"WHATSAPP", ""}:          "NUDGE_WHATSAPP_TOKEN",
		{"TELEGRAM", "default"}:   "NUDGE_TELEGRAM_TOKEN",
		{"WHATSAPP", "shop-2"}:    "NUDGE_WHATSAPP_SHOP_2_TOKEN",
		{"MESSENGER", "GrowFood"}: "NUDGE_MESSENGER_GROWFOOD_TOKEN",
		{"VK", "ru.shop"}:         "NUDGE_VK_RU_SHOP_TOKEN",
	} {
		if got := channels.EnvVar(in[0], in[1], "TOKEN"); got != want {
			t.Errorf("EnvVar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{
		"1000": 1000, "0.5": 0.5, "30/s": 30, "20/m": 20.0 / 60, "100/h": 100.0 / 3600, "0": 0, " 14 ": 14,
	} {
		got, err := channels.ParseRate(in)
		if err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1", "10/d", "/m", "NaN", "Inf", "1e400"} {
		if got, err := channels.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, got)
		}
	}
}

// Every channel's configuration reads its account rate through LoadRate:
// NUDGE_<PROVIDER>_RATE sets the account-wide rate and keeps the
// per-recipient limit; a bad value names the variable.
func TestLoadRate(t *testing.T) {
	dflt := channels.Rate{PerSecond: 30, PerChatPerSecond: 1}
	env := channeltest.Env(map[string]string{"NUDGE_TELEGRAM_RATE": "1000", "NUDGE_VK_RATE": "0", "NUDGE_VIBER_RATE": "lots"})
	if got := channels.LoadRate(env, "NUDGE_TELEGRAM_RATE", dflt); got != (channels.Rate{PerSecond: 1000, PerChatPerSecond: 1}) {
		t.Errorf("telegram %+v", got)
	}
	if got := channels.LoadRate(env, "NUDGE_VK_RATE", dflt); got.PerSecond != 0 || got.PerChatPerSecond != 1 {
		t.Errorf("0 is unlimited: %+v", got)
	}
	if got := channels.LoadRate(env, "NUDGE_MESSENGER_RATE", dflt); got != dflt {
		t.Errorf("unset: %+v", got)
	}
	if env.Err() != nil {
		t.Fatalf("unexpected: %v", env.Err())
	}
	if got := channels.LoadRate(env, "NUDGE_VIBER_RATE", dflt); got != dflt || env.Err() == nil ||
		!strings.Contains(env.Err().Error(), "NUDGE_VIBER_RATE") {
		t.Errorf("bad value: %+v, %v", got, env.Err())
	}
}
