package templates

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// execState is what the functions of one template clone read: the subscriber
// zone and the variant language. Each pooled clone owns one and it is set
// before every execution.
type execState struct {
	loc  *time.Location
	lang string // "ru" or "en"
}

// funcNames lists the functions templates may call (besides builtins); lint
// and the parser use the same map so an unknown function is a syntax error.
func funcMap(st *execState) map[string]any {
	return map[string]any{
		"date":     func(v any, style ...string) (string, error) { return st.formatDate(v, style...) },
		"time":     func(v any) (string, error) { return st.formatTime(v) },
		"datetime": func(v any) (string, error) { return st.formatDateTime(v) },
		"plural":   plural,
		"money":    func(amount any, currency string) (string, error) { return money(st.lang, amount, currency) },
		"upper":    func(v any) string { return strings.ToUpper(toString(v)) },
		"lower":    func(v any) string { return strings.ToLower(toString(v)) },
		"title":    func(v any) string { return title(toString(v)) },
		"default":  defaultValue,
		"get":      get,
		escapeFunc: func(v any) string { return html.EscapeString(toString(v)) },
	}
}

// escapeFunc is appended to every printing pipeline of a Telegram HTML part.
const escapeFunc = "_html"

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(v)
	}
}

var (
	ruMonthsGen = [...]string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"}
	ruWeekdays  = [...]string{"воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"}
)

// toTime accepts time.Time, *time.Time, RFC 3339 strings, strings without
// a zone ("2006-01-02", "2006-01-02T15:04:05": a calendar date or wall time
// in loc, the subscriber's zone) and Unix seconds (JSON numbers arrive as
// float64).
func toTime(v any, loc *time.Location) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case *time.Time:
		if x == nil {
			return time.Time{}, fmt.Errorf("nil time")
		}
		return *x, nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, nil
		}
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, x, loc); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot read %q as a time (want RFC 3339 or 2006-01-02)", x)
	}
	if f, ok := toFloat(v); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return time.Time{}, fmt.Errorf("unix time %v out of range", f)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot read a time from %T", v)
}

func (st *execState) local(v any) (time.Time, error) {
	loc := st.loc
	if loc == nil {
		loc = time.UTC
	}
	t, err := toTime(v, loc)
	if err != nil {
		return t, err
	}
	return t.In(loc), nil
}

func (st *execState) formatDate(v any, style ...string) (string, error) {
	t, err := st.local(v)
	if err != nil {
		return "", err
	}
	s := "long"
	if len(style) > 1 {
		return "", fmt.Errorf("date takes one optional style")
	}
	if len(style) == 1 {
		s = style[0]
	}
	ru := st.lang == "ru"
	switch s {
	case "long":
		if ru {
			return fmt.Sprintf("%d %s %d", t.Day(), ruMonthsGen[t.Month()-1], t.Year()), nil
		}
		return t.Format("January 2, 2006"), nil
	case "short":
		if ru {
			return t.Format("02.01.2006"), nil
		}
		return t.Format("01/02/2006"), nil
	case "weekday":
		if ru {
			return fmt.Sprintf("%s, %d %s", ruWeekdays[t.Weekday()], t.Day(), ruMonthsGen[t.Month()-1]), nil
		}
		return t.Format("Monday, January 2"), nil
	}
	return "", fmt.Errorf("unknown date style %q (use long, short or weekday)", s)
}

func (st *execState) formatTime(v any) (string, error) {
	t, err := st.local(v)
	if err != nil {
		return "", err
	}
	if st.lang == "ru" {
		return t.Format("15:04"), nil
	}
	return t.Format("3:04 PM"), nil
}

func (st *execState) formatDateTime(v any) (string, error) {
	d, err := st.formatDate(v)
	if err != nil {
		return "", err
	}
	tm, _ := st.formatTime(v)
	if st.lang == "ru" {
		return d + " в " + tm, nil
	}
	return d + " at " + tm, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case bool, nil:
		return 0, false
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(r.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(r.Uint()), true
	case reflect.Float32, reflect.Float64:
		return r.Float(), true
	}
	return 0, false
}

// plural picks a word form for n: three forms are Russian (one, few, many:
// 1 блюдо, 2 блюда, 5 блюд, 11 блюд, 21 блюдо), two are English (one, other).
// Fractions take the Russian "few" form (1,5 блюда) and the English plural.
func plural(n any, forms ...string) (string, error) {
	f, ok := toFloat(n)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("plural: %v is not a number", n)
	}
	f = math.Abs(f)
	switch len(forms) {
	case 2:
		if f == 1 {
			return forms[0], nil
		}
		return forms[1], nil
	case 3:
		if f != math.Trunc(f) {
			return forms[1], nil
		}
		i := math.Mod(f, 100)
		d := math.Mod(f, 10)
		switch {
		case d == 1 && i != 11:
			return forms[0], nil
		case d >= 2 && d <= 4 && (i < 12 || i > 14):
			return forms[1], nil
		default:
			return forms[2], nil
		}
	}
	return "", fmt.Errorf("plural takes 2 (English) or 3 (Russian) forms, got %d", len(forms))
}

var currencySymbols = map[string]string{
	"RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£", "KZT": "₸", "UAH": "₴", "BYN": "Br", "CNY": "¥", "JPY": "¥",
}

// money formats an amount with two decimals: ru "1 234,50 ₽" (symbol after),
// en "₽1,234.50" / "$12.50" (symbol before); an unknown currency code is
// written after the amount in both.
func money(lang string, amount any, currency string) (string, error) {
	cents, err := toCents(amount)
	if err != nil {
		return "", err
	}
	neg := cents < 0
	if neg {
		cents = -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	frac := fmt.Sprintf("%02d", cents%100)
	sep, dec := ",", "."
	if lang == "ru" {
		sep, dec = " ", ","
	}
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	num := b.String() + dec + frac
	if neg {
		num = "-" + num
	}
	code := strings.ToUpper(strings.TrimSpace(currency))
	sym, known := currencySymbols[code]
	switch {
	case !known:
		return num + " " + code, nil
	case lang == "ru":
		return num + " " + sym, nil
	case neg:
		return "-" + sym + num[1:], nil
	default:
		return sym + num, nil
	}
}

// toCents reads an amount exactly from decimal strings and json.Number, and
// rounds floats to the nearest cent.
func toCents(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = x.String()
	}
	if s != "" {
		if c, ok := decimalCents(s); ok {
			return c, nil
		}
	}
	f, ok := toFloat(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return 0, fmt.Errorf("money: %v is not an amount", v)
	}
	return int64(math.Round(f * 100)), nil
}

// decimalCents parses "-1234.5" exactly (at most two decimals, at most 15 digits).
func decimalCents(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || len(frac) > 2 {
		return 0, false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// title upper-cases the first letter of every word.
func title(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	start := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start {
				r = unicode.ToTitle(r)
			}
			start = false
		} else {
			start = r != '\'' && r != '’'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// defaultValue returns v unless it is empty (nil, "", 0, false, an empty
// map or slice), else def: {{default "друг" .Subscriber.Name}}.
func defaultValue(def any, v any) any {
	if isEmpty(v) {
		return def
	}
	return v
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return r.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return r.IsNil()
	case reflect.Bool:
		return !r.Bool()
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s) == ""
	}
	return r.IsZero()
}

// get reads an optional key of a map: {{get .Payload "promo"}} is nothing
// (not an error) when the key is absent.
func get(m any, key string) any {
	switch x := m.(type) {
	case map[string]any:
		return x[key]
	case map[string]string:
		if v, ok := x[key]; ok {
			return v
		}
		return nil
	case nil:
		return nil
	}
	r := reflect.ValueOf(m)
	if r.Kind() == reflect.Map && r.Type().Key().Kind() == reflect.String {
		v := r.MapIndex(reflect.ValueOf(key).Convert(r.Type().Key()))
		if v.IsValid() {
			return v.Interface()
		}
	}
	return nil
}

// runeLen counts Unicode code points, the unit most messengers' limits use.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// utf16Len counts UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
