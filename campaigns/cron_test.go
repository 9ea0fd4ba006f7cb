package campaigns

import (
	"errors"
	"testing"
)

// TestParseCron: the specs the scheduler runs parse; the ones it cannot run
// (@every, a zone prefix, 6 fields, …) are refused with ErrCron, and lint
// reports them as invalid-cron, because both use this one parser.
func TestParseCron(t *testing.T) {
	for _, ok := range []string{"0 18 * * 5", "0 18 * * FRI", "*/15 9-17 * * mon-fri", "@daily", "@weekly", "@hourly", "30 2 * * *"} {
		if _, err := ParseCron(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "@every 1h", "0 18 * *", "0 0 18 * * 5", "61 * * * *", "TZ=UTC 0 18 * * 5", "CRON_TZ=Europe/Berlin 0 18 * * FRI", "@fortnightly"} {
		if _, err := ParseCron(bad); !errors.Is(err, ErrCron) {
			t.Errorf("%q: err = %v, want ErrCron", bad, err)
		}
		f, _ := Parse("c.yaml", []byte(`id: c
name: C
topic: service
trigger:
  schedule: {cron: "`+bad+`", timezone: Europe/Berlin}
settings: {channels: [telegram]}
steps:
  - id: s
    end:
`))
		if !hasRule(Lint([]*File{f}), "invalid-cron") {
			t.Errorf("%q: lint reports no invalid-cron: %v", bad, Lint([]*File{f}))
		}
	}
}
