package telegramfake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// StartChat marks chatID as a user who has started the bot.
func (s *Server) StartChat(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started[chatID] = true
}

// The update builders model the user's action on the fake's state too: a
// message or button press starts the chat, a block (my_chat_member "kicked")
// makes later sends fail with Blocked until the user unblocks ("member").

func (s *Server) nextUpdate() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateID++
	return s.updateID
}

func user(chatID int64) map[string]any {
	return map[string]any{"id": chatID, "is_bot": false, "first_name": "Анна", "last_name": "Петрова", "username": "anna_p", "language_code": "ru"}
}

// TextUpdate builds a private-chat message update, e.g. "/start CODE".
func (s *Server) TextUpdate(chatID int64, text string) []byte {
	s.StartChat(chatID)
	id := s.nextUpdate()
	u := map[string]any{"update_id": id, "message": map[string]any{
		"message_id": 100000 + id%100000, "from": user(chatID),
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "last_name": "Петрова", "username": "anna_p", "type": "private"},
		"date": s.Now().Unix(), "text": text,
	}}
	if strings.HasPrefix(text, "/") {
		n := strings.IndexByte(text+" ", ' ')
		u["message"].(map[string]any)["entities"] = []map[string]any{{"offset": 0, "length": n, "type": "bot_command"}}
	}
	b, _ := json.Marshal(u)
	return b
}

// CallbackUpdate builds an inline button press on message messageID.
func (s *Server) CallbackUpdate(chatID, messageID int64, data string) []byte {
	s.StartChat(chatID)
	id := s.nextUpdate()
	msg := map[string]any{
		"message_id": messageID, "from": map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"},
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "type": "private"}, "date": s.Now().Unix() - 60, "text": "…",
	}
	// Telegram sends the pressed message as it is, with its keyboard.
	for _, m := range s.SentTo(chatID) {
		if m.MessageID == messageID {
			msg["text"], msg["date"] = m.Text, m.At.Unix()
			if len(m.Keyboard) > 0 {
				msg["reply_markup"] = map[string]any{"inline_keyboard": m.Keyboard}
			}
		}
	}
	u := map[string]any{"update_id": id, "callback_query": map[string]any{
		"id": fmt.Sprintf("%d%06d", chatID, id%1000000), "from": user(chatID), "message": msg,
		"chat_instance": "-5286301238283771513", "data": data,
	}}
	b, _ := json.Marshal(u)
	return b
}

// ChatMemberUpdate builds my_chat_member with the bot's new status:
// "kicked" when the user blocks the bot, "member" when they unblock it.
func (s *Server) ChatMemberUpdate(chatID int64, status string) []byte {
	switch status {
	case "kicked":
		s.SetChat(chatID, Blocked)
	case "member":
		s.ClearChat(chatID)
		s.StartChat(chatID)
	}
	id := s.nextUpdate()
	old := "member"
	if status == "member" {
		old = "kicked"
	}
	bot := map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"}
	nm := map[string]any{"user": bot, "status": status}
	if status == "kicked" {
		nm["until_date"] = 0
	}
	u := map[string]any{"update_id": id, "my_chat_member": map[string]any{
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "type": "private"}, "from": user(chatID),
		"date": s.Now().Unix(), "old_chat_member": map[string]any{"user": bot, "status": old}, "new_chat_member": nm,
	}}
	b, _ := json.Marshal(u)
	return b
}

// Post delivers an update body to the registered webhook with its secret
// header, as Telegram does, and returns the HTTP status.
func (s *Server) Post(ctx context.Context, body []byte) (int, error) {
	u, secret, _ := s.Webhook()
	if u == "" {
		return 0, fmt.Errorf("telegramfake: no webhook registered")
	}
	return s.PostTo(ctx, u, secret, body)
}

// PostTo delivers an update body to url with secret ("" = no header).
func (s *Server) PostTo(ctx context.Context, url, secret string, body []byte) (int, error) {
	st, _, err := fakekit.Post(ctx, s.Client, url, "application/json", body, map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret})
	return st, err
}
