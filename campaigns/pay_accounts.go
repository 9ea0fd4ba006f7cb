package campaigns

import (
	"context"
	"slices"
)

// PayCurrencies lists, per account of channel ch, the currencies of the pay
// buttons that the current versions of active campaigns can send on ch (a
// step's channel or a fallback rung's), sorted: the settings page shows
// them beside each Telegram bot's payment setup.
func (s *Store) PayCurrencies(ctx context.Context, ch string) (map[string][]string, error) {
	vs, err := s.Active(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, v := range vs {
		def, err := s.Version(ctx, v.CampaignID, v.Version)
		if err != nil {
			return nil, err
		}
		if !def.sendsOn(ch) {
			continue
		}
		acc := def.Settings.Account(ch)
		for _, t := range def.Templates {
			for key, locales := range t {
				if key != ch && key != "default" {
					continue
				}
				for _, vr := range locales {
					for _, b := range vr.Buttons {
						if b.Pay != nil && !slices.Contains(out[acc], b.Pay.Currency) {
							out[acc] = append(out[acc], b.Pay.Currency)
						}
					}
				}
			}
		}
	}
	for _, c := range out {
		slices.Sort(c)
	}
	return out, nil
}

// sendsOn reports whether the campaign may send on channel ch.
func (d *Definition) sendsOn(ch string) bool {
	if slices.Contains(d.Settings.Channels, ch) {
		return true
	}
	for _, r := range d.Settings.Fallback {
		if r.Channel == ch {
			return true
		}
	}
	return false
}
