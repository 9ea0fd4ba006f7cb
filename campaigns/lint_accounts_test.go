package campaigns

import (
	"strings"
	"testing"
)

func TestLintAccounts(t *testing.T) {
	src := strings.Replace(base, "  channels: [telegram]\n", "  channels: [telegram]\n  accounts: {telegram: brand-b}\n", 1)
	f, _ := Parse("c.yaml", []byte(src))
	if errs := Lint([]*File{f}); len(errs) > 0 {
		t.Fatalf("unknown accounts are not checked: %v", errs)
	}
	if got := f.Def.Settings.Account("telegram"); got != "brand-b" {
		t.Errorf("Account(telegram) = %q", got)
	}
	if got := f.Def.Settings.Account("viber"); got != "main" {
		t.Errorf("Account(viber) = %q", got)
	}
	lt := &Linter{Accounts: map[string][]string{"telegram": {"main", "brand-a"}}}
	errs := lt.Lint([]*File{f})
	if got := strings.Join(short(errs), " "); got != "c.yaml:8:24: unknown-account" {
		t.Fatalf("got %q", got)
	}
	if !strings.Contains(errs[0].Msg, `"brand-b"`) || !strings.Contains(errs[0].Msg, "NUDGE_TELEGRAM_ACCOUNTS") ||
		!strings.Contains(errs[0].Hint, "main, brand-a") {
		t.Errorf("message %q hint %q", errs[0].Msg, errs[0].Hint)
	}
	lt.Accounts["telegram"] = append(lt.Accounts["telegram"], "brand-b")
	if errs := lt.Lint([]*File{f}); len(errs) > 0 {
		t.Errorf("configured account: %v", errs)
	}
	for _, c := range []struct{ rule, edit, want string }{
		{rule: "unknown-account", edit: "{telegram: brand-c}", want: "c.yaml:8:24: unknown-account"},
		{rule: "invalid-value", edit: "{telegram: Brand_B}", want: "c.yaml:8:24: invalid-value"},
		{rule: "invalid-value", edit: "{telegrm: brand-b}", want: "c.yaml:8:14: invalid-value"},
		{rule: "invalid-value", edit: "{viber: brand-b}", want: "c.yaml:8:14: invalid-value"},
		{rule: "invalid-value", edit: "{telegram: brand-b, vk: main}", want: "c.yaml:8:33: invalid-value"},
	} {
		f, _ := Parse("c.yaml", []byte(strings.Replace(src, "{telegram: brand-b}", c.edit, 1)))
		if got := strings.Join(short(lt.Lint([]*File{f})), " "); got != c.want {
			t.Errorf("%s: got %q, want %q", c.edit, got, c.want)
		}
	}
}
