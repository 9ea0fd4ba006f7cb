package email

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// MaxBounce bounds a bounce message read by the webhook and the parser.
const MaxBounce = 10 << 20

// DSN is a parsed RFC 3464 delivery status notification.
type DSN struct {
	ReportingMTA       string
	OriginalEnvelopeID string
	Recipients         []RecipientStatus
	// OriginalMessageID is the Message-ID (no angle brackets) found in the
	// returned message or headers part.
	OriginalMessageID string
}

// RecipientStatus is one per-recipient block.
type RecipientStatus struct {
	FinalRecipient    string // address, type prefix ("rfc822;") removed
	OriginalRecipient string
	Action            string // failed | delayed | delivered | relayed | expanded
	Status            string // e.g. 5.1.1
	DiagnosticCode    string // e.g. "smtp; 550 5.1.1 user unknown"
	RemoteMTA         string
}

// ErrNotDSN is returned for a message that holds no message/delivery-status part.
var ErrNotDSN = errors.New("not a delivery status notification")

// ParseDSN reads a bounce: a multipart/report; report-type=delivery-status
// message (possibly wrapped in another multipart), its message/delivery-status
// fields, and the Message-ID of the returned message (message/rfc822 or
// text/rfc822-headers part).
func ParseDSN(raw []byte) (*DSN, error) {
	if len(raw) > MaxBounce {
		return nil, fmt.Errorf("bounce larger than %d bytes", MaxBounce)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("bounce: %w", err)
	}
	d := &DSN{}
	found := false
	if err := walk(textproto.MIMEHeader(msg.Header), msg.Body, 0, d, &found); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotDSN
	}
	return d, nil
}

func decoded(h textproto.MIMEHeader, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

func walk(h textproto.MIMEHeader, body io.Reader, depth int, d *DSN, found *bool) error {
	if depth > 4 {
		return nil
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil // an unparsable part is skipped, not fatal
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			return nil
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				if *found {
					return nil // a broken trailing part does not undo the report
				}
				return fmt.Errorf("bounce: %w", err)
			}
			if err := walk(p.Header, decoded(p.Header, p), depth+1, d, found); err != nil {
				return err
			}
		}
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		*found = true
		return parseStatus(io.LimitReader(body, MaxBounce), d)
	case mt == "message/rfc822" || mt == "text/rfc822-headers" || mt == "message/global" || mt == "message/global-headers":
		tr := textproto.NewReader(bufio.NewReader(io.LimitReader(body, 1<<20)))
		hdr, _ := tr.ReadMIMEHeader() // headers may be truncated: use what was read
		if id := strings.Trim(strings.TrimSpace(hdr.Get("Message-Id")), "<>"); id != "" && d.OriginalMessageID == "" {
			d.OriginalMessageID = id
		}
	}
	return nil
}

// parseStatus reads the per-message block and the per-recipient blocks,
// which are header-style field groups separated by blank lines.
func parseStatus(r io.Reader, d *DSN) error {
	br := bufio.NewReader(r)
	first := true
	for {
		// Skip blank lines between groups.
		for {
			b, err := br.Peek(1)
			if err != nil {
				return nil
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			_, _ = br.ReadByte()
		}
		h, err := textproto.NewReader(br).ReadMIMEHeader()
		if len(h) == 0 && err != nil {
			return nil
		}
		if first {
			first = false
			if h.Get("Final-Recipient") == "" {
				d.ReportingMTA = stripType(h.Get("Reporting-Mta"))
				d.OriginalEnvelopeID = strings.TrimSpace(h.Get("Original-Envelope-Id"))
				if err != nil {
					return nil
				}
				continue
			}
		}
		if fr := stripType(h.Get("Final-Recipient")); fr != "" {
			d.Recipients = append(d.Recipients, RecipientStatus{
				FinalRecipient:    fr,
				OriginalRecipient: stripType(h.Get("Original-Recipient")),
				Action:            strings.ToLower(strings.TrimSpace(h.Get("Action"))),
				Status:            firstField(h.Get("Status")),
				DiagnosticCode:    strings.TrimSpace(h.Get("Diagnostic-Code")),
				RemoteMTA:         stripType(h.Get("Remote-Mta")),
			})
		}
		if err != nil {
			return nil
		}
	}
}

func stripType(v string) string {
	v = strings.TrimSpace(v)
	if _, rest, ok := strings.Cut(v, ";"); ok {
		v = strings.TrimSpace(rest)
	}
	return strings.Trim(v, "<>")
}

func firstField(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// Events turns a DSN into channel events: Action failed → EventFailed (kind
// from the status: 5.1.x/5.2.x not reachable, other 5.x.x invalid, 4.x.x
// transient), delivered → EventDelivered; delayed, relayed and expanded say
// nothing final and are skipped.
func (d *DSN) Events(account string, now time.Time, raw []byte) []channels.Event {
	var out []channels.Event
	for _, r := range d.Recipients {
		ev := channels.Event{
			Channel: channels.Email, Account: account, From: r.FinalRecipient,
			ProviderMessageID: d.OriginalMessageID, Correlation: d.OriginalEnvelopeID,
			ProviderEventID: "dsn:" + d.OriginalMessageID + ":" + r.FinalRecipient + ":" + r.Action,
			At:              now, Raw: raw,
		}
		switch r.Action {
		case "failed":
			ev.Type = channels.EventFailed
			ev.ErrorCode, ev.ErrorMessage = r.Status, r.DiagnosticCode
			ev.ErrorKind = statusKind(r.Status)
		case "delivered":
			ev.Type = channels.EventDelivered
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

func statusKind(status string) channels.ErrorKind {
	switch {
	case strings.HasPrefix(status, "5.1."), strings.HasPrefix(status, "5.2."):
		return channels.NotReachable // bad mailbox/domain, disabled, full
	case strings.HasPrefix(status, "4."):
		return channels.Transient
	case strings.HasPrefix(status, "5."):
		return channels.Invalid
	}
	return channels.NotReachable
}

// stripSpace drops CR, LF, spaces and tabs so line-wrapped base64 decodes.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
