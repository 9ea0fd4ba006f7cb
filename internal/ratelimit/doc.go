// Package ratelimit reserves send slots in Redis, shared by every worker
// process: per channel account, and per chat where the provider limits per
// chat (Telegram: 1 msg/s per chat).
//
// It is GCRA (the generic cell rate algorithm) in its own Lua script,
// reserve.lua, because the sender needs what a token bucket's "allowed or
// retry after" cannot give: the time of each of a batch's slots, from one
// round trip. The worker reserves a claim's messages at once and sleeps
// until each slot, so pacing costs one Redis call per batch rather than a
// poll per message (issue 19: about 23 calls per message at 1,000/s with
// go-redis/redis_rate, and 86% of the limit).
//
// Slots are on real seconds (time.Now), never the engine's injected clock:
// the provider counts wall time.
package ratelimit
