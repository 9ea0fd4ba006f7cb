// Package redisconn is the one place that turns NUDGE_REDIS_URL into Redis
// connections: a go-redis UniversalClient for the rate limiter, the
// dispatcher and the demo, and the matching asynq.RedisConnOpt for Asynq's
// client, server, inspector and asynqmon. Both come from one parsed Conn, so
// the queue and everything beside it always talk to the same Redis, whether
// that is one server, a Sentinel-monitored master or a Cluster.
//
// URL forms (the password never appears in an error or in Redacted):
//
//	redis://[user:pass@]host[:6379][/db]
//	rediss://…                                  the same over TLS
//	redis-sentinel://[user:pass@]s1[:26379],s2[:26379]/<master>[/db][?sentinel_password=…]
//	rediss-sentinel://…                         the same over TLS
//	redis-cluster://[user:pass@]n1[:6379],n2[:6379]
//	rediss-cluster://…                          the same over TLS
//
// The user and password of a Sentinel URL are the master's; sentinels that
// require their own AUTH take sentinel_username and sentinel_password in the
// query. A Cluster has only database 0, so a cluster URL has no path.
package redisconn
