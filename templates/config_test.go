package templates

import (
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/config"
)

func TestLoadConfig(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want int
		err  string
	}{
		{nil, 6, ""},
		{map[string]string{"NUDGE_SMS_MAX_SEGMENTS": "3"}, 3, ""},
		{map[string]string{"NUDGE_SMS_MAX_SEGMENTS": "0"}, 6, "NUDGE_SMS_MAX_SEGMENTS"},
		{map[string]string{"NUDGE_SMS_MAX_SEGMENTS": "many"}, 6, "NUDGE_SMS_MAX_SEGMENTS"},
	} {
		e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }}
		got := LoadConfig(e)
		if got.MaxSMSSegments != c.want {
			t.Errorf("%v: MaxSMSSegments = %d, want %d", c.env, got.MaxSMSSegments, c.want)
		}
		if err := e.Err(); (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: err = %v, want one naming %q", c.env, err, c.err)
		}
		if r := NewRenderer(got.Options()...); r.maxSegments != got.MaxSMSSegments {
			t.Errorf("renderer max segments %d", r.maxSegments)
		}
	}
}
