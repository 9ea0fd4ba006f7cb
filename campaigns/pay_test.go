package campaigns

import (
	"strings"
	"testing"
)

// payBase is a renewal reminder with a pay button on Telegram and SMS.
const payBase = `id: c
name: C
topic: service
trigger:
  api: {}
settings:
  channels: [telegram, sms]
steps:
  - id: s
    send: {template: t}
templates:
  t:
    default:
      ru:
        text: Продлите подписку
        buttons:
          - text: Оплатить
            url: https://shop.example/renew
            pay: {amount: "990.00", currency: RUB, product: weekly-box, title: Неделя ужинов}
`

func TestPayLint(t *testing.T) {
	tests := []struct {
		name string
		edit [2]string
		want []string
	}{
		{"clean", [2]string{"", ""}, nil},
		{"integer amount", [2]string{`"990.00"`, `990`}, nil},
		{"currency not ISO 4217", [2]string{"RUB", "RUX"}, []string{"c.yaml:19:47: pay"}},
		{"lower-case currency", [2]string{"RUB", "rub"}, []string{"c.yaml:19:47: pay"}},
		{"zero amount", [2]string{`"990.00"`, `"0"`}, []string{"c.yaml:19:27: pay"}},
		{"negative amount", [2]string{`"990.00"`, `"-5"`}, []string{"c.yaml:19:27: pay"}},
		{"too many decimals", [2]string{`"990.00"`, `"990.005"`}, []string{"c.yaml:19:27: pay"}},
		{"yen has no decimals", [2]string{`"990.00", currency: RUB`, `"990.5", currency: JPY`}, []string{"c.yaml:19:27: pay"}},
		{"no product", [2]string{"product: weekly-box, ", ""}, []string{"c.yaml:19:18: pay"}},
		{"title too long", [2]string{"Неделя ужинов", strings.Repeat("я", 33)}, []string{"c.yaml:19:80: pay"}},
		{"no url for sms", [2]string{"            url: https://shop.example/renew\n", ""}, []string{"c.yaml:18:18: pay"}},
		{"reply id", [2]string{"          - text: Оплатить\n", "          - text: Оплатить\n            id: pay\n"}, []string{"c.yaml:18:17: pay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := payBase
			if tt.edit[0] != "" {
				src = edited(t, src, [][2]string{tt.edit})
			}
			wantLint(t, src, tt.want)
		})
	}
}

func TestPayMinorUnits(t *testing.T) {
	for _, tt := range []struct {
		amount, currency string
		want             int64
	}{{"990", "RUB", 99000}, {"990.5", "RUB", 99050}, {"12.345", "KWD", 12345}, {"500", "JPY", 500}, {"100", "XTR", 100}} {
		p := Pay{Amount: tt.amount, Currency: tt.currency}
		got, err := p.MinorUnits()
		if err != nil || got != tt.want {
			t.Errorf("%s %s: got %d, %v; want %d", tt.amount, tt.currency, got, err, tt.want)
		}
	}
	for _, bad := range []Pay{{Amount: "1e3", Currency: "USD"}, {Amount: "1/2", Currency: "USD"}, {Amount: "abc", Currency: "USD"}, {Amount: "1", Currency: "ZZZ"}} {
		if _, err := bad.MinorUnits(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
