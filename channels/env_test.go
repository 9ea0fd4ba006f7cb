package channels_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
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
