package campaigns

import (
	"errors"
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"
)

// ErrCron is wrapped by every cron spec ParseCron refuses.
var ErrCron = errors.New("invalid cron")

// cronParser is the one definition of the schedule trigger's cron syntax:
// 5 fields plus @descriptors. Lint and the scheduler both go through
// ParseCron, so a spec that lints clean is one the scheduler runs.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a schedule trigger's cron spec: 5 fields or a descriptor
// (@yearly, @monthly, @weekly, @daily, @hourly). @every is refused: its
// occurrences are not anchored to the wall clock, so two scheduler runs
// would disagree on them and idempotency by trigger_key would not hold.
// TZ= / CRON_TZ= prefixes are refused: the zone is the trigger's timezone.
func ParseCron(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("%w: cron is empty", ErrCron)
	}
	if strings.HasPrefix(s, "@every") {
		return nil, fmt.Errorf("%w %q: @every is not supported, write a 5-field spec such as */15 * * * *", ErrCron, spec)
	}
	if up := strings.ToUpper(s); strings.HasPrefix(up, "TZ=") || strings.HasPrefix(up, "CRON_TZ=") {
		return nil, fmt.Errorf("%w %q: put the zone in timezone, not in the spec", ErrCron, spec)
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrCron, spec, err)
	}
	return sched, nil
}
