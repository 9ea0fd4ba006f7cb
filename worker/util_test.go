package worker

import (
	"sort"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sortStrings(s []string) { sort.Strings(s) }
