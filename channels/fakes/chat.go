package fakes

import (
	"cmp"
	"embed"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Said is one thing a customer did through Do (start, text, press): the
// customer's side of the chat page.
type Said struct {
	Channel   string    `json:"channel"`
	User      string    `json:"user"`
	Action    string    `json:"action"`
	Text      string    `json:"text,omitempty"` // what the customer wrote, or the label of the button pressed
	Data      string    `json:"data,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	Status    int       `json:"status"` // what Nudge's webhook answered
	At        time.Time `json:"at"`
}

// record notes a customer action that reached Nudge.
func (s *Set) record(ch channels.Kind, action string, a Action, status int) {
	said := Said{Channel: string(ch), User: a.User, Action: action, Text: a.Text, Data: a.Data, MessageID: a.MessageID, Status: status, At: s.opt.Now()}
	switch action {
	case "start":
		said.Text = "Start"
	case "press":
		said.Text = s.label(ch, a)
	}
	s.mu.Lock()
	s.said = append(s.said, said)
	s.mu.Unlock()
}

// Saids lists what the customers did through Do, oldest first.
func (s *Set) Saids() []Said {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.said)
}

// Name gives the customer at user on channel a name for the chat pages
// (the fakes know only addresses).
func (s *Set) Name(ch channels.Kind, user, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]string{}
	}
	s.names[string(ch)+"\x00"+user] = name
}

func (s *Set) nameOf(ch, user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[ch+"\x00"+user]
}

// label is the text of the button a press answers, as the customer saw it
// (the press's data when no sent message has that button).
func (s *Set) label(ch channels.Kind, a Action) string {
	label := a.Data
	for _, m := range s.Sent() {
		if m.Channel != string(ch) || m.To != a.User || (a.MessageID != "" && m.ID != a.MessageID) {
			continue
		}
		for _, k := range m.Keys {
			if k.Data == a.Data && k.Label != "" {
				label = k.Label
			}
		}
	}
	return label
}

// chatCustomer is one row of the chat list.
type chatCustomer struct {
	Channel, User, Name, Last string
	Messages                  int
	At                        time.Time
}

// chatEntry is one bubble of a conversation: a message the fake received
// from Nudge (From "bot") or something the customer did.
type chatEntry struct {
	From string // bot | customer
	Message
	Said Said
}

// customers lists every address a fake sent to or a customer acted from.
func (s *Set) customers() []chatCustomer {
	byKey := map[string]*chatCustomer{}
	get := func(ch, user string) *chatCustomer {
		k := ch + "\x00" + user
		c := byKey[k]
		if c == nil {
			c = &chatCustomer{Channel: ch, User: user, Name: s.nameOf(ch, user)}
			byKey[k] = c
		}
		return c
	}
	for _, m := range s.Sent() {
		c := get(m.Channel, m.To)
		c.Messages++
		if !m.At.Before(c.At) {
			c.At, c.Last = m.At, m.Text
		}
	}
	for _, d := range s.Saids() {
		c := get(d.Channel, d.User)
		if !d.At.Before(c.At) {
			c.At, c.Last = d.At, d.Text
		}
	}
	out := make([]chatCustomer, 0, len(byKey))
	for _, c := range byKey {
		if utf8.RuneCountInString(c.Last) > 70 {
			c.Last = string([]rune(c.Last)[:70]) + "…"
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b chatCustomer) int {
		unnamed := func(c chatCustomer) int { // named customers first
			if c.Name == "" {
				return 1
			}
			return 0
		}
		return cmp.Or(cmp.Compare(unnamed(a), unnamed(b)), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.User, b.User))
	})
	return out
}

// conversation is what went between Nudge and one customer, oldest first.
func (s *Set) conversation(ch, user string) []chatEntry {
	var out []chatEntry
	for _, m := range s.Sent() {
		if m.Channel == ch && m.To == user {
			out = append(out, chatEntry{From: "bot", Message: m})
		}
	}
	for _, d := range s.Saids() {
		if d.Channel == ch && d.User == user {
			out = append(out, chatEntry{From: "customer", Said: d})
		}
	}
	slices.SortStableFunc(out, func(a, b chatEntry) int { return a.at().Compare(b.at()) })
	return out
}

func (e chatEntry) at() time.Time {
	if e.From == "bot" {
		return e.Message.At
	}
	return e.Said.At
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

//go:embed chat
var chatFiles embed.FS

var chatTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"chatURL": func(ch, user string) string { return "/chat/" + url.PathEscape(ch) + "/" + url.PathEscape(user) },
	"when":    func(t time.Time) string { return t.Format("Mon 02 Jan 15:04") },
	"canWrite": func(ch string) bool {
		return ch != string(channels.Email)
	},
	"canPress": func(ch string) bool {
		return ch != string(channels.Email) && ch != string(channels.SMS)
	},
	"title": func(ch string) string {
		return map[string]string{"telegram": "Telegram", "viber": "Viber", "whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram",
			"vk": "VK", "sms": "SMS", "email": "Email"}[ch]
	},
	// rows groups a message's buttons by keyboard row.
	"rows": func(keys []Key) [][]Key {
		var out [][]Key
		for i, k := range keys {
			if i == 0 || k.Row != keys[i-1].Row {
				out = append(out, nil)
			}
			out[len(out)-1] = append(out[len(out)-1], k)
		}
		return out
	},
	// visible is the text as the messenger shows it: Telegram HTML markup
	// without its tags and entities (html/template escapes the result).
	"visible": func(m Message) string {
		if m.Format != "html" {
			return m.Text
		}
		return html.UnescapeString(tagRe.ReplaceAllString(m.Text, ""))
	},
}).ParseFS(chatFiles, "chat/*.html"))

// chatRoutes adds the customer chat pages to the control API: GET /chat
// lists the customers, GET /chat/{channel}/{user} shows one conversation
// as the customer's messenger would, with buttons that post to
// /{channel}/press and a box that posts to /{channel}/text (so through Do,
// as every other customer action).
func (s *Set) chatRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /chat", func(w http.ResponseWriter, _ *http.Request) {
		s.renderChat(w, "list.html", map[string]any{"Customers": s.customers()})
	})
	mux.HandleFunc("GET /chat/{channel}/{user}", func(w http.ResponseWriter, r *http.Request) {
		ch, user := r.PathValue("channel"), r.PathValue("user")
		if !channels.Kind(ch).Valid() {
			http.NotFound(w, r)
			return
		}
		s.renderChat(w, "conversation.html", map[string]any{"Channel": ch, "User": user, "Name": s.nameOf(ch, user),
			"Entries": s.conversation(ch, user)})
	})
	for _, f := range []string{"chat.css", "chat.js"} {
		mux.HandleFunc("GET /"+f, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, chatFiles, "chat/"+f)
		})
	}
}

func (s *Set) renderChat(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Subscriber data is on these pages: no script but ours, no framing.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := chatTemplates.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
