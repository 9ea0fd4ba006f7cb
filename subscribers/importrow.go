package subscribers

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
)

// RowError is one rejected import row.
type RowError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"` // the CSV column at fault, if one
	Reason string `json:"reason"`
}

func (e *RowError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// importRow is one parsed, valid row waiting for its batch.
type importRow struct {
	line       int
	externalID string  // "" = keyed by its identities
	name       *string // nil = keep stored value
	locale     *string
	timeZone   *string
	attrs      map[string]string
	ids        []IdentityInput
	marketing  *bool // nil = no consent statement
	service    *bool
	proof      map[string]any
	// copy holds the row's COPY values after ord (copyValues), encoded by
	// the parser that read it; nil until then.
	copy []any
}

type colKind int

const (
	colExternalID colKind = iota
	colName
	colLocale
	colTimeZone
	colIdentity // phone, email, telegram, …
	colAttr
	colConsentMarketing
	colConsentService
	colConsentSource
	colConsentAt
	colConsentProof
	colUnnamed // a header cell left empty: Excel's trailing delimiters
)

type column struct {
	kind  colKind
	name  string          // as in the header (lower case)
	canon string          // the column it is (an alias's target, else name)
	attr  string          // attr.<key>
	chans []channels.Kind // identity column: phone → whatsapp and sms
}

// identityColumns maps identity columns to channels. A phone number is the
// address of both WhatsApp and SMS; a column's channels must share one
// NormalizeAddress rule (the parser normalises once per column).
var identityColumns = map[string][]channels.Kind{
	"phone":     {channels.WhatsApp, channels.SMS},
	"email":     {channels.Email},
	"telegram":  {channels.Telegram},
	"viber":     {channels.Viber},
	"messenger": {channels.Messenger},
	"instagram": {channels.Instagram},
	"vk":        {channels.VK},
}

// leadChannels holds one channel per identity column, its first: the
// channels of a column share its addresses, so a check for an address twice
// in a file looks at these alone.
func leadChannels() []string {
	lead := make([]string, 0, len(identityColumns))
	for _, chans := range identityColumns {
		lead = append(lead, string(chans[0]))
	}
	return lead
}

// columnOf names the import column that holds addresses of channel ch.
func columnOf(ch channels.Kind) string {
	for col, chans := range identityColumns {
		for _, c := range chans {
			if c == ch {
				return col
			}
		}
	}
	return string(ch)
}

var fixedColumns = map[string]colKind{
	"external_id":       colExternalID,
	"name":              colName,
	"locale":            colLocale,
	"time_zone":         colTimeZone,
	"consent_marketing": colConsentMarketing,
	"consent_service":   colConsentService,
	"consent_source":    colConsentSource,
	"consent_at":        colConsentAt,
	"consent_proof":     colConsentProof,
}

// columnAliases are the header names a Russian CRM or a hand-made sheet
// uses for the columns the importer knows (amoCRM and Bitrix24 export
// "Телефон", "Имя", "E-mail"; Excel users type "ФИО", "Почта").
var columnAliases = map[string]string{
	"id":                "external_id",
	"внешний id":        "external_id",
	"имя":               "name",
	"фио":               "name",
	"телефон":           "phone",
	"мобильный телефон": "phone",
	"мобильный":         "phone",
	"тел":               "phone",
	"тел.":              "phone",
	"phone number":      "phone",
	"e-mail":            "email",
	"почта":             "email",
	"эл. почта":         "email",
	"эл.почта":          "email",
	"электронная почта": "email",
	"язык":              "locale",
	"часовой пояс":      "time_zone",
	"телеграм":          "telegram",
	"вконтакте":         "vk",
	"вайбер":            "viber",
}

// aliasList names the Russian aliases by column, for the unknown-column
// message: "имя/фио = name, …".
func aliasList() string {
	by := map[string][]string{}
	for a, c := range columnAliases {
		if a[0] >= 0x80 { // the others (id, e-mail, phone number) need no hint
			by[c] = append(by[c], a)
		}
	}
	out := make([]string, 0, len(by))
	for _, c := range slices.Sorted(maps.Keys(by)) {
		slices.Sort(by[c])
		out = append(out, strings.Join(by[c], "/")+" = "+c)
	}
	return strings.Join(out, ", ")
}

// lineBreaks reads a cell's line breaks as spaces, to judge the rest of it.
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// multiline says whether the column's values may span lines: a quoted CSV
// cell may hold line breaks, which attributes and the consent proof keep.
func (c column) multiline() bool { return c.kind == colAttr || c.kind == colConsentProof }

// KnownColumns lists the CSV columns the importer reads (besides attr.<key>).
func KnownColumns() []string {
	var out []string
	for k := range fixedColumns {
		out = append(out, k)
	}
	for k := range identityColumns {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseHeader reads the CSV header row.
func parseHeader(rec []string) ([]column, error) {
	cols := make([]column, len(rec))
	seen := map[string]string{} // column → its name in the file
	keyed := false
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		if j := strings.IndexAny(h, ",;\t"); j >= 0 && len(h) <= 100 {
			return nil, &RowError{Line: 1, Reason: fmt.Sprintf(
				"column %d: %q is not a column name; it holds a %q, so the file may be separated by it (pass --delimiter)", i+1, h, h[j])}
		}
		if !printable(h) || len(h) > 100 {
			return nil, &RowError{Line: 1, Reason: fmt.Sprintf("column %d: %.100q is not a column name", i+1, h)}
		}
		if h == "" {
			// Excel ends every line with a delimiter when a column past the
			// data was ever touched; such columns are read as empty.
			cols[i] = column{kind: colUnnamed, name: fmt.Sprintf("column %d", i+1)}
			continue
		}
		name := h // as the file says it, for the messages
		if c, ok := columnAliases[h]; ok {
			h = c
		}
		if first, ok := seen[h]; ok {
			reason := "column appears twice in the header"
			if first != name {
				reason = fmt.Sprintf("column appears twice in the header: %q is the same column", first)
			}
			return nil, &RowError{Line: 1, Field: name, Reason: reason}
		}
		seen[h] = name
		switch {
		case strings.HasPrefix(h, "attr."):
			key := strings.TrimPrefix(h, "attr.")
			if len(key) > MaxAttrKey || !reAttrKey.MatchString(key) {
				return nil, &RowError{Line: 1, Field: h, Reason: fmt.Sprintf("attribute names are 1-%d letters, digits, _ or -", MaxAttrKey)}
			}
			cols[i] = column{kind: colAttr, name: h, attr: key}
		case identityColumns[h] != nil:
			cols[i] = column{kind: colIdentity, name: name, canon: h, chans: identityColumns[h]}
			keyed = true
		default:
			k, ok := fixedColumns[h]
			if !ok {
				return nil, &RowError{Line: 1, Field: h, Reason: fmt.Sprintf("unknown column; known columns are %s and attr.<name> (also in Russian: %s)", strings.Join(KnownColumns(), ", "), aliasList())}
			}
			if k == colExternalID {
				keyed = true
			}
			cols[i] = column{kind: k, name: name, canon: h}
		}
	}
	has := func(c string) bool { _, ok := seen[c]; return ok }
	if len(seen) > 0 && !has("consent_proof") && (has("consent_marketing") || has("consent_service")) {
		return nil, &RowError{Line: 1, Field: "consent_proof", Reason: "consent columns need a consent_proof column (what the person agreed to, and where)"}
	}
	if !keyed {
		return nil, &RowError{Line: 1, Reason: "the header needs external_id or at least one of phone, email, telegram, viber, messenger, instagram, vk"}
	}
	return cols, nil
}

func parseBool(s string) (*bool, bool) {
	switch strings.ToLower(s) {
	case "":
		return nil, true
	case "true", "yes", "1", "y", "да":
		t := true
		return &t, true
	case "false", "no", "0", "n", "нет":
		f := false
		return &f, true
	}
	return nil, false
}

// parseCSVRow turns one CSV record into a row (or the reason it is rejected).
func parseCSVRow(cols []column, rec []string, line int) (importRow, *RowError) {
	r := importRow{line: line}
	if len(rec) != len(cols) {
		return r, &RowError{Line: line, Reason: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(cols))}
	}
	ids := 0
	for _, c := range cols {
		ids += len(c.chans)
	}
	r.ids = make([]IdentityInput, 0, ids) // one allocation, not append's growth
	var source, at, proofText string
	for i, c := range cols {
		v := strings.TrimSpace(rec[i])
		bad := func(format string, args ...any) (importRow, *RowError) {
			return r, &RowError{Line: line, Field: c.name, Reason: fmt.Sprintf(format, args...)}
		}
		if !printable(v) {
			// A quoted cell may span lines (see runsOn): attributes and the
			// consent proof keep their line breaks; the other columns are
			// one line.
			switch {
			case !printable(lineBreaks.Replace(v)):
				return bad("must be printable text")
			case !c.multiline():
				return bad("must be on one line, but the cell holds a line break")
			}
		}
		if v == "" {
			continue
		}
		switch c.kind {
		case colUnnamed:
			return bad("has a value, but the column has no name in the header")
		case colExternalID:
			if err := ValidExternalID(c.name, v); err != nil {
				return bad("%s", err.(*FieldError).Msg)
			}
			r.externalID = v
		case colName:
			if len(v) > MaxName {
				return bad("is longer than %d bytes", MaxName)
			}
			r.name = &v
		case colLocale:
			if err := ValidLocale(c.name, v); err != nil {
				return bad("%s", err.(*FieldError).Msg)
			}
			r.locale = &v
		case colTimeZone:
			if err := ValidTimeZone(c.name, v); err != nil {
				return bad("%s", err.(*FieldError).Msg)
			}
			r.timeZone = &v
		case colIdentity:
			// A column's channels share one address rule (phone: WhatsApp and
			// SMS), so it is normalised once; phone parsing is the costly part.
			a, err := NormalizeAddress(c.chans[0], v)
			if err != nil {
				return bad("%v", err)
			}
			for _, ch := range c.chans {
				r.ids = append(r.ids, IdentityInput{Channel: ch, Address: a})
			}
		case colAttr:
			if len(v) > 1000 {
				return bad("is longer than 1000 bytes")
			}
			if r.attrs == nil {
				r.attrs = map[string]string{}
			}
			r.attrs[c.attr] = v
		case colConsentMarketing, colConsentService:
			b, ok := parseBool(v)
			if !ok {
				return bad("must be true or false, got %q", v)
			}
			if c.kind == colConsentMarketing {
				r.marketing = b
			} else {
				r.service = b
			}
		case colConsentSource:
			if len(v) > 200 {
				return bad("is longer than 200 bytes")
			}
			source = v
		case colConsentAt:
			t, err := parseConsentTime(v)
			if err != nil {
				return bad("must be an RFC 3339 time (2024-05-01T10:00:00+03:00) or a date (2024-05-01)")
			}
			at = t.UTC().Format(time.RFC3339)
		case colConsentProof:
			if len(v) > 2000 {
				return bad("is longer than 2000 bytes")
			}
			proofText = v
		}
	}
	if r.externalID == "" && len(r.ids) == 0 {
		return r, &RowError{Line: line, Reason: "has neither external_id nor any address"}
	}
	granted := (r.marketing != nil && *r.marketing) || (r.service != nil && *r.service)
	if granted && proofText == "" {
		return r, &RowError{Line: line, Field: "consent_proof", Reason: "is required when consent is granted"}
	}
	if r.marketing != nil || r.service != nil {
		r.proof = map[string]any{"import_line": line}
		if proofText != "" {
			r.proof["text"] = proofText
		}
		if source != "" {
			r.proof["origin"] = source
		}
		if at != "" {
			r.proof["consented_at"] = at
		}
	}
	return r, nil
}

func parseConsentTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", v)
}

// parseTXTLine reads one line of a TXT import: a phone number or an email
// address. Blank lines and lines starting with # are skipped (ok = false, no error).
func parseTXTLine(s string, line int) (importRow, bool, *RowError) {
	v := strings.TrimSpace(strings.TrimPrefix(s, "\ufeff"))
	r := importRow{line: line}
	if v == "" || strings.HasPrefix(v, "#") {
		return r, false, nil
	}
	if !printable(v) {
		return r, false, &RowError{Line: line, Reason: "must be printable text"}
	}
	if strings.Contains(v, "@") {
		a, err := NormalizeAddress(channels.Email, v)
		if err != nil {
			return r, false, &RowError{Line: line, Field: "email", Reason: err.Error()}
		}
		r.ids = []IdentityInput{{Channel: channels.Email, Address: a}}
		return r, true, nil
	}
	phone := identityColumns["phone"]
	a, err := NormalizeAddress(phone[0], v)
	if err != nil {
		return r, false, &RowError{Line: line, Field: "phone", Reason: err.Error() + " (or an email address)"}
	}
	for _, ch := range phone {
		r.ids = append(r.ids, IdentityInput{Channel: ch, Address: a})
	}
	return r, true, nil
}

// copyValues returns the row's COPY values after ord, in importRowCols'
// order, as driver values: the arrays and JSON encoded once, off the one
// goroutine that stages rows in order and COPYs each to one or both
// connections (database/sql would convert them on each).
func (r *importRow) copyValues() []any {
	if r.copy != nil {
		return r.copy
	}
	chans, addrs := make([]string, len(r.ids)), make([]string, len(r.ids))
	for i, id := range r.ids {
		chans[i], addrs[i] = string(id.Channel), id.Address
	}
	cv, _ := pq.StringArray(chans).Value() // a string; never an error
	av, _ := pq.StringArray(addrs).Value()
	var ext any
	if r.externalID != "" {
		ext = r.externalID
	}
	r.copy = []any{int64(r.line), ext, strOrNil(r.name), strOrNil(r.locale), strOrNil(r.timeZone), r.attrsJSON(),
		boolOrNil(r.marketing), boolOrNil(r.service), r.proofJSON(), cv, av}
	return r.copy
}

func (r *importRow) attrsJSON() string {
	if len(r.attrs) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(r.attrs) // map[string]string always encodes
	return string(b)
}

func (r *importRow) proofJSON() any {
	if r.proof == nil {
		return nil
	}
	b, _ := json.Marshal(r.proof) // strings and ints only
	return string(b)
}
