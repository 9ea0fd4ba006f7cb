package campaigns

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"github.com/nudge-engine/nudge/channels"
)

// Pay makes a button a payment: on Telegram the message goes out as an
// invoice (sendInvoice) the customer pays in the chat; on every other
// channel the button is a link to the shop's payment page (the button's
// url), tracked like every link (package links). Title and description sit
// in the variant, so each locale has its own.
type Pay struct {
	// Amount in the currency's major unit as written ("990", "990.00",
	// "12.5"); never more decimals than the currency has (ISO 4217).
	Amount string `yaml:"amount" json:"amount"`
	// Currency is an ISO 4217 code (RUB, USD, EUR, …) or XTR for Telegram Stars.
	Currency string `yaml:"currency" json:"currency"`
	// Product is what is paid for (a product or subscription id); it comes
	// back on the subscription.renewed event.
	Product string `yaml:"product" json:"product"`
	// Title is the invoice title on Telegram (1-32 characters).
	Title string `yaml:"title" json:"title"`
	// Description is the invoice description on Telegram (1-255
	// characters); default: the message text.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// ValidFor is how long the invoice can be paid (default 7d); a
	// pre-checkout after that is refused.
	ValidFor Duration `yaml:"valid_for,omitempty" json:"valid_for,omitempty"`
}

// Limits of a Telegram invoice (sendInvoice).
const (
	MaxPayTitle       = 32
	MaxPayDescription = 255
	MaxPayProduct     = 64
	// Stars is Telegram's in-app currency (not ISO 4217; no minor unit).
	Stars = "XTR"
)

// DefaultPayValidity is how long an invoice can be paid when valid_for is omitted.
const DefaultPayValidity = Duration(7 * 24 * time.Hour)

// Validity is ValidFor or its default.
func (p *Pay) Validity() Duration {
	if p.ValidFor <= 0 {
		return DefaultPayValidity
	}
	return p.ValidFor
}

// Exponent is the number of minor-unit digits of an ISO 4217 currency (2
// for RUB, 0 for JPY, 3 for KWD; 0 for XTR).
func Exponent(code string) (int, error) {
	if code == Stars {
		return 0, nil
	}
	if len(code) != 3 || strings.ToUpper(code) != code {
		return 0, fmt.Errorf("currency %q is not an ISO 4217 code (three capital letters like RUB, USD, EUR)", code)
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, fmt.Errorf("currency %q is not an ISO 4217 code", code)
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale, nil
}

// MinorUnits is Amount in the currency's smallest unit (kopecks, cents),
// as Telegram's LabeledPrice.amount wants it.
func (p *Pay) MinorUnits() (int64, error) {
	exp, err := Exponent(p.Currency)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(p.Amount)
	if s == "" {
		return 0, errors.New("amount is required")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "eE/") {
		return 0, fmt.Errorf("amount %q is not a decimal number like 990 or 990.00", s)
	}
	if r.Sign() <= 0 {
		return 0, fmt.Errorf("amount %q must be positive", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		return 0, fmt.Errorf("amount %q has more decimals than %s has (%d)", s, p.Currency, exp)
	}
	if !r.Num().IsInt64() || r.Num().Int64() > 1<<53 {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	return r.Num().Int64(), nil
}

// problems lists what is wrong with p, as (field, message) pairs relative
// to the pay mapping; telegram says whether the variant reaches Telegram,
// where title and description become the invoice's.
func (p *Pay) problems(telegram bool) [][2]string {
	var out [][2]string
	add := func(field, format string, args ...any) {
		out = append(out, [2]string{field, fmt.Sprintf(format, args...)})
	}
	if _, err := Exponent(p.Currency); err != nil {
		add("currency", "%v", err)
	} else if _, err := p.MinorUnits(); err != nil {
		add("amount", "%v", err)
	}
	if p.Product == "" || len(p.Product) > MaxPayProduct || strings.ContainsAny(p.Product, " \t\n") {
		add("product", "product must be a product or subscription id of 1-%d bytes without spaces", MaxPayProduct)
	}
	if telegram {
		if n := utf8.RuneCountInString(p.Title); n == 0 || n > MaxPayTitle {
			add("title", "a Telegram invoice title is 1-%d characters, got %d", MaxPayTitle, n)
		}
		if n := utf8.RuneCountInString(p.Description); n > MaxPayDescription {
			add("description", "a Telegram invoice description is 1-%d characters, got %d", MaxPayDescription, n)
		}
	}
	return out
}

// payLint checks the pay buttons of variant v at path vp, which the
// channels uses send.
func (l *linter) payLint(vp string, v Variant, uses []string) {
	telegram, link := false, false
	for _, u := range uses {
		if u == string(channels.Telegram) || u == string(channels.Sandbox) {
			telegram = true
		} else {
			link = true
		}
	}
	n := 0
	for i, b := range v.Buttons {
		if b.Pay == nil {
			continue
		}
		n++
		bp := fmt.Sprintf("%s.buttons[%d]", vp, i)
		if n > 1 {
			l.add(bp+".pay", "pay", "one invoice per message: split the offers into several sends", "a message has at most one pay button")
		}
		if b.ID != "" {
			l.add(bp+".id", "pay", "remove id: a payment is counted by its subscription.renewed event, not a reply", "a pay button has no reply id")
		}
		if link && b.URL == "" {
			l.add(bp+".pay", "pay", "add url: the shop's payment page; channels without in-chat payments send the button as that link", "pay button without url for %s", strings.Join(nonTelegram(uses), ", "))
		}
		for _, pr := range b.Pay.problems(telegram) {
			l.add(bp+".pay."+pr[0], "pay", "", "%s", pr[1])
		}
	}
}

func nonTelegram(uses []string) []string {
	var out []string
	for _, u := range uses {
		if u != string(channels.Telegram) && u != string(channels.Sandbox) {
			out = append(out, u)
		}
	}
	return out
}
