package testenv

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RedisCalls is a go-redis hook that counts the commands a client sends (a
// pipeline counts each of its commands), for tests and benchmarks that bound
// how many round trips a component makes: client.AddHook(&RedisCalls{}).
type RedisCalls struct{ n atomic.Int64 }

// N is how many commands have been sent since the hook was added.
func (c *RedisCalls) N() int64 { return c.n.Load() }

// DialHook is go-redis's; dials are not counted.
func (c *RedisCalls) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command.
func (c *RedisCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts each command of a pipeline.
func (c *RedisCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
