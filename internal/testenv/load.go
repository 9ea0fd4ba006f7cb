package testenv

import (
	"os"
	"strings"
)

// LoadAverage is the machine's 1, 5 and 15 minute load averages from
// /proc/loadavg ("0.52 0.61 0.70"), or "unknown". Benchmarks record it
// beside their figures: on a shared machine the load moves them more than
// most changes do.
func LoadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(raw)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
