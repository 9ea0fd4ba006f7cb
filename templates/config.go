package templates

import "github.com/nudge-engine/nudge/internal/config"

// Config holds the renderer settings an operator may change.
type Config struct {
	// MaxSMSSegments is the most segments a rendered SMS may take
	// (NUDGE_SMS_MAX_SEGMENTS, default 6, 1–20).
	MaxSMSSegments int
}

// LoadConfig reads Config from the environment; problems are collected in e.
func LoadConfig(e *config.Env) Config {
	c := Config{MaxSMSSegments: e.Int("NUDGE_SMS_MAX_SEGMENTS", DefaultMaxSegments)}
	if c.MaxSMSSegments < 1 || c.MaxSMSSegments > 20 {
		e.Fail("NUDGE_SMS_MAX_SEGMENTS", "must be between 1 and 20, got %d", c.MaxSMSSegments)
		c.MaxSMSSegments = DefaultMaxSegments
	}
	return c
}

// Options turns c into Renderer options: NewRenderer(cfg.Options()...).
func (c Config) Options() []Option {
	if c.MaxSMSSegments <= 0 {
		return nil
	}
	return []Option{WithMaxSMSSegments(c.MaxSMSSegments)}
}
