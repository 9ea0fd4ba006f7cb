package policy

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
)

// FuzzQuietUntil: quiet hours come from campaign YAML. No input may panic,
// and a deferral always ends after now and within a day and an hour (the
// longest night, on a DST fall-back day).
func FuzzQuietUntil(f *testing.F) {
	zones := []string{"UTC", "Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Sao_Paulo"}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		l, err := time.LoadLocation(z)
		if err != nil {
			f.Fatal(err)
		}
		locs[i] = l
	}
	f.Add("22:00", "09:00", int64(1772920800), uint8(3))
	f.Add("22:00", "02:30", int64(1772949600), uint8(3))
	f.Add("00:00", "24:00", int64(0), uint8(0))
	f.Add("9:5", "25:00", int64(-1), uint8(200))
	f.Add("01:30", "02:00", int64(1775922000), uint8(4))
	f.Fuzz(func(t *testing.T, start, end string, unix int64, zone uint8) {
		if unix < -1e11 || unix > 1e11 {
			return
		}
		now := time.Unix(unix, 0).UTC()
		loc := locs[int(zone)%len(locs)]
		until, quiet, err := QuietUntil(campaigns.QuietHours{Start: start, End: end}, now, loc)
		if err != nil || !quiet {
			return
		}
		if !until.After(now) {
			t.Fatalf("%s–%s in %s at %s: until %s is not after now", start, end, loc, now, until)
		}
		if until.Sub(now) > 25*time.Hour {
			t.Fatalf("%s–%s in %s at %s: until %s is more than 25h away", start, end, loc, now, until)
		}
		// And it is not inside the quiet hours any more.
		if _, again, _ := QuietUntil(campaigns.QuietHours{Start: start, End: end}, until, loc); again {
			s, _ := ParseClock(start)
			e, _ := ParseClock(end)
			if s != e {
				t.Fatalf("%s–%s in %s at %s: still quiet at the end %s (%s local)", start, end, loc, now, until, until.In(loc))
			}
		}
	})
}
