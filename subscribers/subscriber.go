package subscribers

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones validate even where the OS has no zoneinfo
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/nudge-engine/nudge/channels"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("subscriber not found")
)

// Subscriber is one person the shop may write to.
type Subscriber struct {
	ID         int64          `json:"id"`
	ExternalID string         `json:"external_id"` // "" for an anonymous subscriber
	Name       string         `json:"name"`
	Locale     string         `json:"locale"`
	TimeZone   string         `json:"time_zone"`
	Attributes map[string]any `json:"attributes"`
	Identities []Identity     `json:"identities"`
	ErasedAt   *time.Time     `json:"erased_at,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// Identity is an address of a subscriber on one channel.
type Identity struct {
	Channel channels.Kind `json:"channel"`
	// Account is the bot, page or number the address belongs to
	// (channels.DefaultAccount for identities the API and imports bind).
	Account       string     `json:"account"`
	Address       string     `json:"address"`
	LastInboundAt *time.Time `json:"last_inbound_at,omitempty"`
	BlockedAt     *time.Time `json:"blocked_at,omitempty"`
}

// Input is an upsert: fields left nil keep their stored value (or the default
// for a new subscriber); Attributes are merged key by key (a null value
// removes the key); Identities are added (an identity already bound to
// another subscriber is a *ConflictError).
type Input struct {
	ExternalID string          `json:"external_id"`
	Name       *string         `json:"name,omitempty"`
	Locale     *string         `json:"locale,omitempty"`
	TimeZone   *string         `json:"time_zone,omitempty"`
	Attributes map[string]any  `json:"attributes,omitempty"`
	Identities []IdentityInput `json:"identities,omitempty"`
}

// IdentityInput is an identity as a client sends it.
type IdentityInput struct {
	Channel channels.Kind `json:"channel"`
	// Account is the bot, page or number of the channel the address
	// belongs to; empty is channels.DefaultAccount.
	Account string `json:"account,omitempty"`
	Address string `json:"address"`
}

// FieldError is invalid input; Field names it the way the client wrote it
// (identities[1].address, attributes.plan).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ConflictError says an identity is already bound to another subscriber.
type ConflictError struct {
	Field   string // identities[i].address
	Channel channels.Kind
	Address string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s identity is already bound to another subscriber", e.Field, e.Channel)
}

// Limits on client data.
const (
	MaxExternalID   = 200
	MaxName         = 200
	MaxAttributes   = 100
	MaxAttrKey      = 64
	MaxIdentities   = 20
	MaxAddress      = 254
	DefaultLocale   = "ru"
	DefaultTimeZone = "Europe/Moscow"
)

var (
	reLocale  = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	reAttrKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
)

// ValidExternalID checks a customer id: 1–200 printable characters.
func ValidExternalID(field, id string) error {
	switch {
	case id == "":
		return fieldErr(field, "is required")
	case len(id) > MaxExternalID:
		return fieldErr(field, "is longer than %d bytes", MaxExternalID)
	case !printable(id) || strings.TrimSpace(id) != id:
		return fieldErr(field, "must be printable text without leading or trailing spaces")
	}
	return nil
}

// ValidLocale checks a BCP 47-like tag such as ru, en, pt-BR.
func ValidLocale(field, l string) error {
	if len(l) > 35 || !reLocale.MatchString(l) {
		return fieldErr(field, "must be a language tag like ru, en or pt-BR, got %q", l)
	}
	return nil
}

// ValidTimeZone checks an IANA time zone name such as Europe/Moscow.
func ValidTimeZone(field, tz string) error {
	// LoadLocation accepts "" and "Local", which are not portable zones, and
	// reads files for names with dots; reject those first.
	if tz == "" || tz == "Local" || len(tz) > 64 || strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") {
		return fieldErr(field, "must be an IANA time zone like Europe/Moscow, got %q", tz)
	}
	if _, ok := validZones.Load(tz); ok {
		return nil
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fieldErr(field, "must be an IANA time zone like Europe/Moscow, got %q", tz)
	}
	validZones.Store(tz, struct{}{})
	return nil
}

// validZones caches the zone names LoadLocation accepted (it reads the zone
// file on every call, the costliest check of an import row). Only valid
// names are kept, so the cache is bounded by the zone database.
var validZones sync.Map

// NormalizeAddress checks addr for channel ch and returns its canonical form:
// E.164 for phones (read with nyaruka/phonenumbers: "+7 999 123-45-67",
// "0079991234567" and, in the default region RU, "8 999 123 45 67" are all
// +79991234567), lower case for email, the decimal id for Telegram and VK.
// It is the one normalisation of addresses: the API, the import and every
// inbound event (ProviderAddress) go through it.
func NormalizeAddress(ch channels.Kind, addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", errors.New("is required")
	}
	if len(a) > MaxAddress {
		return "", fmt.Errorf("is longer than %d bytes", MaxAddress)
	}
	switch ch {
	case channels.WhatsApp, channels.SMS:
		return normalizePhone(a)
	case channels.Email:
		m, err := mail.ParseAddress(a)
		if err != nil || m.Name != "" || m.Address != a || !strings.Contains(a[strings.LastIndexByte(a, '@')+1:], ".") {
			return "", fmt.Errorf("must be an email address like anna@example.com")
		}
		return strings.ToLower(a), nil
	case channels.Telegram, channels.VK:
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n == 0 {
			if ch == channels.Telegram {
				return "", fmt.Errorf("must be a numeric Telegram chat id")
			}
			return "", fmt.Errorf("must be a numeric VK peer id")
		}
		return strconv.FormatInt(n, 10), nil
	case channels.Viber, channels.Messenger, channels.Instagram, channels.Sandbox:
		if !printable(a) || strings.ContainsAny(a, " \t") {
			return "", fmt.Errorf("must be printable text without spaces")
		}
		return a, nil
	default:
		return "", fmt.Errorf("unknown channel %q", ch)
	}
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// ValidAttributes checks attribute keys and the number of keys.
func ValidAttributes(field string, attrs map[string]any) error {
	if len(attrs) > MaxAttributes {
		return fieldErr(field, "has more than %d keys", MaxAttributes)
	}
	for k := range attrs {
		if len(k) > MaxAttrKey || !reAttrKey.MatchString(k) {
			return fieldErr(field+"."+k, "attribute names are 1-%d letters, digits, _ or -", MaxAttrKey)
		}
	}
	return nil
}

// Validate checks in and normalises its identity addresses in place.
func (in *Input) Validate() error {
	if err := ValidExternalID("external_id", in.ExternalID); err != nil {
		return err
	}
	if in.Name != nil {
		if len(*in.Name) > MaxName {
			return fieldErr("name", "is longer than %d bytes", MaxName)
		}
		if !printable(*in.Name) {
			return fieldErr("name", "must be printable text")
		}
	}
	if in.Locale != nil {
		if err := ValidLocale("locale", *in.Locale); err != nil {
			return err
		}
	}
	if in.TimeZone != nil {
		if err := ValidTimeZone("time_zone", *in.TimeZone); err != nil {
			return err
		}
	}
	if err := ValidAttributes("attributes", in.Attributes); err != nil {
		return err
	}
	if len(in.Identities) > MaxIdentities {
		return fieldErr("identities", "has more than %d entries", MaxIdentities)
	}
	seen := make(map[IdentityInput]int, len(in.Identities))
	for i := range in.Identities {
		id := &in.Identities[i]
		if !id.Channel.Valid() {
			return fieldErr(fmt.Sprintf("identities[%d].channel", i), "must be one of %s", kindList())
		}
		a, err := NormalizeAddress(id.Channel, id.Address)
		if err != nil {
			return fieldErr(fmt.Sprintf("identities[%d].address", i), "%v", err)
		}
		id.Address = a
		if id.Account != "" {
			if err := channels.CheckAccount(id.Account); err != nil {
				return fieldErr(fmt.Sprintf("identities[%d].account", i), "%v", err)
			}
		}
		id.Account = channels.Account(id.Account)
		if j, dup := seen[*id]; dup {
			return fieldErr(fmt.Sprintf("identities[%d]", i), "repeats identities[%d]", j)
		}
		seen[*id] = i
	}
	return nil
}

func kindList() string {
	s := make([]string, len(channels.Kinds))
	for i, k := range channels.Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// sortFieldErrors orders errors by the index in their field (events[2] before events[10]).
func sortFieldErrors(errs []*FieldError) {
	idx := func(f string) int {
		i := strings.IndexByte(f, '[')
		j := strings.IndexByte(f, ']')
		if i < 0 || j < i {
			return -1
		}
		n, _ := strconv.Atoi(f[i+1 : j])
		return n
	}
	sort.SliceStable(errs, func(a, b int) bool { return idx(errs[a].Field) < idx(errs[b].Field) })
}

// DefaultPhoneRegion is the region a phone number without a country code is
// read in, unless SetPhoneRegion says otherwise (NUDGE_PHONE_REGION).
const DefaultPhoneRegion = "RU"

var phoneRegion atomic.Pointer[string]

// SetPhoneRegion sets the region (ISO 3166 code such as RU, KZ, DE) phones
// without a country code are read in, for the whole process; "" restores
// DefaultPhoneRegion. Call it once at start-up.
func SetPhoneRegion(region string) error {
	r := strings.ToUpper(strings.TrimSpace(region))
	if r == "" {
		r = DefaultPhoneRegion
	}
	if phonenumbers.GetCountryCodeForRegion(r) == 0 {
		return fmt.Errorf("phone region %q is not a region code like RU or KZ", region)
	}
	phoneRegion.Store(&r)
	return nil
}

// PhoneRegion returns the region set by SetPhoneRegion.
func PhoneRegion() string {
	if r := phoneRegion.Load(); r != nil {
		return *r
	}
	return DefaultPhoneRegion
}

func normalizePhone(a string) (string, error) {
	if strings.HasPrefix(a, "00") {
		a = "+" + a[2:]
	}
	if strings.IndexFunc(a, unicode.IsLetter) >= 0 { // phonenumbers reads vanity letters as digits
		return "", badPhone()
	}
	// What the fast path reads is already in E.164 as Format would write it
	// (TestPhoneFastPathAgrees), so a is returned as it came.
	n, fast := parseE164(a)
	var err error
	if !fast {
		n, err = phonenumbers.Parse(a, PhoneRegion())
	}
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", badPhone()
	}
	if fast {
		return a, nil
	}
	// A national prefix after the country code is dropped ("+82 010…" is
	// "+82 10…"), once per parse: a number of zeros there ("+82000…") would
	// lose another zero each time it is read again. A stored address must
	// read back as itself, so such a number is refused.
	out := phonenumbers.Format(n, phonenumbers.E164)
	if out != a {
		if again, err := phonenumbers.Parse(out, PhoneRegion()); err != nil || phonenumbers.Format(again, phonenumbers.E164) != out {
			return "", badPhone()
		}
	}
	return out, nil
}

// badPhone is built only for a number that fails: a file of a million
// phones would otherwise format it a million times.
func badPhone() error {
	return fmt.Errorf("must be a phone number like +79991234567 (or a national number of region %s)", PhoneRegion())
}

// ProviderAddress is the sender of an inbound event in the form identities
// are stored in. Providers report phones internationally, with or without
// the "+" (Meta's WhatsApp webhooks send "79991234567", Twilio
// "+79991234567"), so a phone of digits only gets its "+" before
// NormalizeAddress. Anything that does not normalise (an alphanumeric SMS
// sender) is returned as it came; other channels are returned unchanged.
func ProviderAddress(ch channels.Kind, addr string) string {
	if ch != channels.WhatsApp && ch != channels.SMS {
		return addr
	}
	a := strings.TrimSpace(addr)
	if a != "" && a[0] != '0' && strings.Trim(a, "0123456789") == "" {
		a = "+" + a
	}
	if n, err := NormalizeAddress(ch, a); err == nil {
		return n
	}
	return addr
}
