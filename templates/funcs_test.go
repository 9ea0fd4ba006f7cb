package templates

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPluralRussian(t *testing.T) {
	forms := []string{"блюдо", "блюда", "блюд"}
	for _, c := range []struct {
		n    any
		want string
	}{
		{1, "блюдо"}, {2, "блюда"}, {5, "блюд"}, {11, "блюд"}, {21, "блюдо"}, {22, "блюда"}, {25, "блюд"},
		{111, "блюд"}, {0, "блюд"}, {12, "блюд"}, {14, "блюд"}, {101, "блюдо"}, {104, "блюда"}, {1001, "блюдо"},
		{-1, "блюдо"}, {-3, "блюда"}, {1.5, "блюда"}, {21.0, "блюдо"}, {"22", "блюда"}, {json.Number("25"), "блюд"}, {int64(111), "блюд"}, {uint8(3), "блюда"},
	} {
		got, err := plural(c.n, forms...)
		if err != nil || got != c.want {
			t.Errorf("plural(%v) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
}

func TestPluralEnglish(t *testing.T) {
	for _, c := range []struct {
		n    any
		want string
	}{{1, "dish"}, {0, "dishes"}, {2, "dishes"}, {11, "dishes"}, {21, "dishes"}, {1.0, "dish"}, {1.5, "dishes"}, {-1, "dish"}} {
		got, err := plural(c.n, "dish", "dishes")
		if err != nil || got != c.want {
			t.Errorf("plural(%v) = %q, %v; want %q", c.n, got, err, c.want)
		}
	}
	for _, bad := range [][]any{{"x", "a", "b"}, {nil, "a", "b"}, {1, "a"}, {1, "a", "b", "c", "d"}, {true, "a", "b"}} {
		forms := make([]string, 0, len(bad)-1)
		for _, f := range bad[1:] {
			forms = append(forms, f.(string))
		}
		if _, err := plural(bad[0], forms...); err == nil {
			t.Errorf("plural(%v) succeeded, want an error", bad)
		}
	}
}

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		lang     string
		amount   any
		currency string
		want     string
	}{
		{"ru", 1234.5, "RUB", "1 234,50 ₽"},
		{"en", 1234.5, "RUB", "₽1,234.50"},
		{"en", 12.5, "USD", "$12.50"},
		{"ru", 12.5, "usd", "12,50 $"},
		{"ru", "1234567.89", "RUB", "1 234 567,89 ₽"},
		{"en", json.Number("0.1"), "EUR", "€0.10"},
		{"en", 0.1 + 0.2, "USD", "$0.30"},
		{"en", -5, "USD", "-$5.00"},
		{"ru", -1500, "RUB", "-1 500,00 ₽"},
		{"en", 990, "XTS", "990.00 XTS"},
		{"ru", int64(100000), "KZT", "100 000,00 ₸"},
		{"en", "12", "GBP", "£12.00"},
	} {
		got, err := money(c.lang, c.amount, c.currency)
		if err != nil || got != c.want {
			t.Errorf("money(%s, %v, %s) = %q, %v; want %q", c.lang, c.amount, c.currency, got, err, c.want)
		}
	}
	for _, bad := range []any{"abc", nil, true, 1e300, "1.234"} {
		if got, err := money("en", bad, "USD"); err == nil && bad != "1.234" {
			t.Errorf("money(%v) = %q, want an error", bad, got)
		}
	}
}

func TestDates(t *testing.T) {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	ny, _ := time.LoadLocation("America/New_York")
	at := time.Date(2026, 1, 2, 21, 30, 0, 0, time.UTC) // 3 Jan 00:30 in Moscow, 2 Jan 16:30 in NY
	ru := &execState{loc: moscow, lang: "ru"}
	en := &execState{loc: ny, lang: "en"}
	for _, c := range []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) { return ru.formatDate(at) }, "3 января 2026"},
		{func() (string, error) { return ru.formatDate(at, "short") }, "03.01.2026"},
		{func() (string, error) { return ru.formatDate(at, "weekday") }, "суббота, 3 января"},
		{func() (string, error) { return ru.formatTime(at) }, "00:30"},
		{func() (string, error) { return ru.formatDateTime(at) }, "3 января 2026 в 00:30"},
		{func() (string, error) { return en.formatDate(at) }, "January 2, 2026"},
		{func() (string, error) { return en.formatDate(at, "weekday") }, "Friday, January 2"},
		{func() (string, error) { return en.formatTime(at) }, "4:30 PM"},
		{func() (string, error) { return en.formatDateTime("2026-07-04T12:00:00Z") }, "July 4, 2026 at 8:00 AM"},
		{func() (string, error) { return ru.formatDate("2026-05-09") }, "9 мая 2026"},
		{func() (string, error) { return ru.formatDate(float64(1767225600)) }, "1 января 2026"},
		{func() (string, error) { return ru.formatDate(&at) }, "3 января 2026"},
		// A date without a zone is a calendar date in the subscriber's zone, not UTC midnight.
		{func() (string, error) { return en.formatDate("2026-03-09") }, "March 9, 2026"},
		{func() (string, error) { return en.formatDateTime("2026-03-09T07:00:00") }, "March 9, 2026 at 7:00 AM"},
	} {
		got, err := c.got()
		if err != nil || got != c.want {
			t.Errorf("got %q, %v; want %q", got, err, c.want)
		}
	}
	for _, bad := range []any{"tomorrow", nil, true, 1e300, (*time.Time)(nil)} {
		if _, err := ru.formatDate(bad); err == nil {
			t.Errorf("date(%v) succeeded", bad)
		}
	}
	if _, err := ru.formatDate(at, "iso"); err == nil {
		t.Error("unknown style accepted")
	}
}

func TestSmallFuncs(t *testing.T) {
	if got := title("анна-мария o'neil ivanova"); got != "Анна-Мария O'neil Ivanova" {
		t.Errorf("title = %q", got)
	}
	if got := defaultValue("друг", ""); got != "друг" {
		t.Errorf("default of empty = %v", got)
	}
	if got := defaultValue("друг", "Аня"); got != "Аня" {
		t.Errorf("default of value = %v", got)
	}
	if got := defaultValue(1, 0.0); got != 1 {
		t.Errorf("default of zero = %v", got)
	}
	if got := get(map[string]any{"a": 1}, "b"); got != nil {
		t.Errorf("get missing = %v", got)
	}
	if got := get(map[string]any{"a": 1}, "a"); got != 1 {
		t.Errorf("get = %v", got)
	}
	if got := get(map[string]int{"a": 2}, "a"); got != 2 {
		t.Errorf("get typed map = %v", got)
	}
	if got := get(nil, "a"); got != nil {
		t.Errorf("get nil = %v", got)
	}
}
