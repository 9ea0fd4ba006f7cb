package consent_test

import (
	"fmt"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

func ExampleIsOptOut() {
	for _, text := range []string{"Стоп!", "STOP", "/unsubscribe", "не стоп", "stop it"} {
		fmt.Printf("%q %v\n", text, consent.IsOptOut(text))
	}
	// Output:
	// "Стоп!" true
	// "STOP" true
	// "/unsubscribe" true
	// "не стоп" false
	// "stop it" false
}

func ExampleConfig_DeepLink() {
	cfg := consent.Config{TelegramBot: "GrowFoodBot", ViberURI: "growfood", WhatsAppNumber: "79001234567"}.WithDefaults()
	for _, ch := range cfg.Enabled() {
		link, err := cfg.DeepLink(ch, "Zx8_k2PqLm-4")
		fmt.Println(link, err)
	}
	_, err := cfg.DeepLink(channels.Telegram, "too+long+and+not+base64url")
	fmt.Println(err)
	// Output:
	// https://t.me/GrowFoodBot?start=Zx8_k2PqLm-4 <nil>
	// viber://pa?chatURI=growfood&context=Zx8_k2PqLm-4 <nil>
	// https://wa.me/79001234567?text=%D0%A5%D0%BE%D1%87%D1%83%20%D0%BF%D0%BE%D0%BB%D1%83%D1%87%D0%B0%D1%82%D1%8C%20%D1%83%D0%B2%D0%B5%D0%B4%D0%BE%D0%BC%D0%BB%D0%B5%D0%BD%D0%B8%D1%8F%20%2F%20Subscribe%20me%3A%20Zx8_k2PqLm-4 <nil>
	// code cannot be carried by this channel: telegram carries at most 64 characters of its alphabet
}
