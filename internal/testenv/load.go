package testenv

import (
	"bytes"
	"os"
	"strconv"
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

// ProcessCPU is the CPU time (user and system) process pid has used so
// far, from /proc/<pid>/stat; ok is false when it cannot be read (another
// machine's process, or one that has exited). CPU seconds stay comparable
// on a loaded machine where wall time does not.
func ProcessCPU(pid int) (seconds float64, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name: utime and stime are the 12th and 13th,
	// in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + s) / 100, true
}
