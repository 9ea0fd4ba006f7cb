package telegramfake

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// checkKeyboard validates reply_markup as the Bot API does and returns the
// inline keyboard to record, or the error text Telegram answers.
func checkKeyboard(raw string) ([][]Button, string) {
	var rm struct {
		InlineKeyboard *[][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &rm); err != nil {
		return nil, "can't parse reply keyboard markup JSON object"
	}
	if rm.InlineKeyboard == nil {
		return nil, "" // reply keyboards and removals are not recorded
	}
	var out [][]Button
	total := 0
	for _, row := range *rm.InlineKeyboard {
		var r []Button
		for _, raw := range row {
			total++
			var b Button
			kinds := 0
			for k, v := range raw {
				var str string
				switch k {
				case "text":
					_ = json.Unmarshal(v, &b.Text)
				case "callback_data":
					_ = json.Unmarshal(v, &b.CallbackData)
					kinds++
				case "url":
					_ = json.Unmarshal(v, &b.URL)
					kinds++
				case "pay":
					_ = json.Unmarshal(v, &b.Pay)
					kinds++
				case "login_url", "switch_inline_query", "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game", "web_app", "copy_text":
					kinds++
				case "style", "icon_custom_emoji_id":
					_ = json.Unmarshal(v, &str)
				}
			}
			if b.Text == "" {
				return nil, "inline keyboard button text must be non-empty"
			}
			if kinds == 0 {
				return nil, "text buttons are unallowed in the inline keyboard"
			}
			if kinds > 1 {
				return nil, "can't parse inline keyboard button: exactly one of the optional fields must be used"
			}
			if _, has := raw["callback_data"]; has && (len(b.CallbackData) < 1 || len(b.CallbackData) > MaxCallbackData) {
				return nil, "BUTTON_DATA_INVALID"
			}
			if _, has := raw["url"]; has {
				u, err := url.Parse(b.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tg") {
					return nil, fmt.Sprintf("inline keyboard button URL '%s' is invalid: Wrong HTTP URL", b.URL)
				}
			}
			r = append(r, b)
		}
		out = append(out, r)
	}
	if total > MaxButtons {
		return nil, "reply markup is too long"
	}
	return out, ""
}
