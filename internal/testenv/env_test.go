package testenv

import "testing"

func TestEnvInt(t *testing.T) {
	tests := []struct {
		value string
		want  int
	}{
		{"", 7},
		{"250", 250},
		{"0", 7},
		{"-3", 7},
		{"1e3", 7},
		{"many", 7},
	}
	for _, tc := range tests {
		t.Setenv("NUDGE_TEST_ENVINT", tc.value)
		if got := EnvInt("NUDGE_TEST_ENVINT", 7); got != tc.want {
			t.Errorf("EnvInt with %q = %d, want %d", tc.value, got, tc.want)
		}
	}
}
