package viberfake

// rich_media (carousel) messages: min_api_version 2 or more; rich_media
// with Type "rich_media", ButtonsGroupColumns 1-6 and ButtonsGroupRows 1-7;
// each button within the grid, with an ActionBody; at most 6 cards, the
// buttons filling cards in order.

// MaxCards is the most cards of a rich_media message.
const MaxCards = 6

type richMedia struct {
	Type                string `json:"Type"`
	ButtonsGroupColumns int    `json:"ButtonsGroupColumns"`
	ButtonsGroupRows    int    `json:"ButtonsGroupRows"`
	Buttons             []struct {
		Columns    int    `json:"Columns"`
		Rows       int    `json:"Rows"`
		ActionType string `json:"ActionType"`
		ActionBody string `json:"ActionBody"`
		Image      string `json:"Image"`
	} `json:"Buttons"`
}

func (r *richMedia) images() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, b := range r.Buttons {
		if b.Image != "" {
			out = append(out, b.Image)
		}
	}
	return out
}

// checkRichMedia returns Viber's status for a bad rich_media message
// (3 badData), or 0.
func checkRichMedia(m *message) int {
	r := m.RichMedia
	if m.MinAPIVersion < 2 || r == nil || r.Type != "rich_media" || len(r.Buttons) == 0 {
		return 3
	}
	cols, rows := r.ButtonsGroupColumns, r.ButtonsGroupRows
	if cols == 0 {
		cols = 6
	}
	if rows == 0 {
		rows = 7
	}
	if cols < 1 || cols > 6 || rows < 1 || rows > 7 {
		return 3
	}
	cells := 0
	for _, b := range r.Buttons {
		c, rw := b.Columns, b.Rows
		if c == 0 {
			c = cols
		}
		if rw == 0 {
			rw = 1
		}
		if c < 1 || c > cols || rw < 1 || rw > rows || b.ActionBody == "" {
			return 3
		}
		switch b.ActionType {
		case "", "reply", "open-url", "none":
		default:
			return 3
		}
		cells += c * rw
	}
	if cells > MaxCards*cols*rows {
		return 3
	}
	return 0
}
