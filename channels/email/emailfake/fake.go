// Package emailfake is an SMTP server for tests, the demo and benchmarks,
// built on github.com/emersion/go-smtp: it records every accepted message
// with its envelope (MAIL FROM, RCPT TO, DSN RET/ENVID/NOTIFY), optionally
// requires AUTH PLAIN, and refuses recipients like a real MTA (550 5.1.1 for
// unknown users, scriptable 4xx/5xx once or per address). Bounce builds the
// RFC 3464 report a real MTA would return for a recorded message, and the
// tracking helpers "open" a message by fetching its pixel.
package emailfake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Options configure a fake; zero values take the defaults shown.
type Options struct {
	Domain   string // "mx.fake.test", the EHLO and Reporting-MTA name
	Username string // AUTH PLAIN required when set
	Password string
	Now      func() time.Time
}

// Received is one accepted message.
type Received struct {
	From       string
	To         []string
	EnvelopeID string   // ENVID
	Return     string   // RET: FULL | HDRS
	Notify     []string // NOTIFY of the first recipient
	Data       []byte
	At         time.Time
}

// Reply is a scripted SMTP refusal.
type Reply struct {
	Code     int    // e.g. 550
	Enhanced [3]int // e.g. {5, 1, 1}
	Message  string
}

// Server is the fake.
type Server struct {
	opt      Options
	srv      *smtp.Server
	ln       net.Listener
	msgs     fakekit.Log[Received]
	mu       sync.Mutex
	rejected map[string]Reply
	nextRcpt fakekit.Once[Reply]
	done     chan struct{}
}

// New starts a fake on 127.0.0.1 with a free port; Close it when done.
func New(opt Options) (*Server, error) {
	opt.Domain = cmp.Or(opt.Domain, "mx.fake.test")
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, rejected: map[string]Reply{}, done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = opt.Domain
	srv.EnableDSN = true
	srv.EnableSMTPUTF8 = true
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("emailfake: listen: %w", err)
	}
	s.srv, s.ln = srv, ln
	go func() { defer close(s.done); _ = srv.Serve(ln) }()
	return s, nil
}

// Host is the address to dial.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Options returns the effective options.
func (s *Server) Options() Options { return s.opt }

// Close stops the server.
func (s *Server) Close() {
	_ = s.srv.Close()
	_ = s.ln.Close() // Serve may not have registered the listener yet
	<-s.done
}

// Reject makes RCPT TO addr fail with reply every time (e.g. 550 5.1.1).
func (s *Server) Reject(addr string, r Reply) {
	s.mu.Lock()
	s.rejected[strings.ToLower(addr)] = r
	s.mu.Unlock()
}

// FailNextRcpt makes the next RCPT TO fail once with reply (e.g. 451 4.7.1).
func (s *Server) FailNextRcpt(r Reply) {
	s.nextRcpt.Add(r)
}

// Messages returns the accepted messages in order.
func (s *Server) Messages() []Received { return s.msgs.All() }

type session struct {
	s      *Server
	authed bool
	cur    Received
}

func (x *session) AuthMechanisms() []string {
	if x.s.opt.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != x.s.opt.Username || pass != x.s.opt.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, opts *smtp.MailOptions) error {
	if x.s.opt.Username != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.cur = Received{From: from}
	if opts != nil {
		x.cur.EnvelopeID, x.cur.Return = opts.EnvelopeID, string(opts.Return)
	}
	return nil
}

func (x *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	x.s.mu.Lock()
	var r *Reply
	if next, scripted := x.s.nextRcpt.Next(); scripted {
		r = &next
	} else if rr, ok := x.s.rejected[strings.ToLower(to)]; ok {
		r = &rr
	}
	x.s.mu.Unlock()
	if r != nil {
		return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Message}
	}
	x.cur.To = append(x.cur.To, to)
	if opts != nil && len(x.cur.Notify) == 0 {
		for _, n := range opts.Notify {
			x.cur.Notify = append(x.cur.Notify, string(n))
		}
	}
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.cur.Data, x.cur.At = b, x.s.opt.Now()
	x.s.msgs.Add(x.cur)
	x.cur = Received{}
	return nil
}

func (x *session) Reset()        { x.cur = Received{} }
func (x *session) Logout() error { return nil }

// Parsed is a received message taken apart.
type Parsed struct {
	Header mail.Header
	Text   string
	HTML   string
	// Attachments are the parts sent with Content-Disposition attachment.
	Attachments []Attachment
}

// Attachment is an attached file of a received message.
type Attachment struct {
	Name, Type string
	Data       []byte
}

// Parse decodes a received message's headers and its text and HTML parts.
func (r Received) Parse() (Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: m.Header}
	err = collect(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body, &p, 0)
	return p, err
}

func collect(ct, cte, disposition string, body io.Reader, p *Parsed, depth int) error {
	if depth > 5 {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := collect(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part.Header.Get("Content-Disposition"), part, p, depth+1); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		dec, err := decodeB64(b)
		if err != nil {
			return err
		}
		body = bytes.NewReader(dec)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if d, dp, err := mime.ParseMediaType(disposition); err == nil && d == "attachment" {
		name, err := new(mime.WordDecoder).DecodeHeader(dp["filename"]) // RFC 2047 names, as mail clients read them
		if err != nil {
			name = dp["filename"]
		}
		p.Attachments = append(p.Attachments, Attachment{Name: name, Type: mt, Data: b})
		return nil
	}
	switch mt {
	case "text/plain":
		p.Text = string(b)
	case "text/html":
		p.HTML = string(b)
	}
	return nil
}

var pixelRe = regexp.MustCompile(`src="([^"]*/t/o/[^"]*\.gif)"`)
var linkRe = regexp.MustCompile(`href="([^"]*/t/c/[^"]*)"`)

// TrackingURLs returns the open pixel and the tracked links of an HTML part.
func TrackingURLs(htmlPart string) (pixel string, links []string) {
	unesc := strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">")
	if m := pixelRe.FindStringSubmatch(htmlPart); m != nil {
		pixel = unesc.Replace(m[1])
	}
	for _, m := range linkRe.FindAllStringSubmatch(htmlPart, -1) {
		links = append(links, unesc.Replace(m[1]))
	}
	return pixel, links
}

// Open fetches the open pixel of a received message, as a mail client
// showing images would.
func Open(ctx context.Context, hc *http.Client, r Received) error {
	p, err := r.Parse()
	if err != nil {
		return err
	}
	pixel, _ := TrackingURLs(p.HTML)
	if pixel == "" {
		return errors.New("emailfake: message has no tracking pixel")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pixel, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emailfake: pixel answered %d", resp.StatusCode)
	}
	return nil
}

// Bounce builds the RFC 3464 report an MTA returns for r: Action failed
// (or delivered/delayed per action) for rcpt with status (e.g. "5.1.1") and
// a diagnostic, and the original headers as text/rfc822-headers.
func (s *Server) Bounce(r Received, rcpt, action, status, diagnostic string) []byte {
	headers := r.Data
	if i := bytes.Index(headers, []byte("\r\n\r\n")); i >= 0 {
		headers = headers[:i+2]
	}
	now := s.opt.Now().UTC().Format(time.RFC1123Z)
	boundary := "dsn-" + strconv.FormatInt(s.opt.Now().UnixNano(), 36)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: %s\r\nDate: %s\r\n", s.opt.Domain, r.From, now)
	fmt.Fprintf(&b, "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "This is a MIME-encapsulated message.\r\n\r\n--%s\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary)
	fmt.Fprintf(&b, "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n<%s>: %s\r\n\r\n", rcpt, diagnostic)
	fmt.Fprintf(&b, "--%s\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", s.opt.Domain)
	if r.EnvelopeID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", r.EnvelopeID)
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n\r\n", now)
	fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822;%s\r\nAction: %s\r\nStatus: %s\r\n", rcpt, rcpt, action, status)
	fmt.Fprintf(&b, "Remote-MTA: dns; mx.recipient.example\r\nDiagnostic-Code: smtp; %s\r\n\r\n", diagnostic)
	fmt.Fprintf(&b, "--%s\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(headers)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// PostBounce posts a raw bounce to a bounce webhook with a bearer token.
func PostBounce(ctx context.Context, hc *http.Client, url, token string, raw []byte) error {
	return fakekit.Deliver(ctx, hc, "emailfake: bounce webhook", url, "message/rfc822", raw, map[string]string{"Authorization": "Bearer " + token})
}

func decodeB64(b []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	return out[:n], err
}
