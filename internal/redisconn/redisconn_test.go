package redisconn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Conn
		err  string // substring of the error; "" = no error
	}{
		{url: "redis://127.0.0.1:6379/0", want: Conn{Topology: Single, Addrs: []string{"127.0.0.1:6379"}}},
		{url: "redis://localhost", want: Conn{Topology: Single, Addrs: []string{"localhost:6379"}}},
		{url: "redis://:s3cret@cache:6380/4", want: Conn{Topology: Single, Addrs: []string{"cache:6380"}, Password: "s3cret", DB: 4}},
		{url: "rediss://app:p%40ss%2Fw@cache.example/2", want: Conn{Topology: Single, Addrs: []string{"cache.example:6379"}, Username: "app", Password: "p@ss/w", DB: 2, TLS: true}},
		{url: "redis://[::1]:7000/1", want: Conn{Topology: Single, Addrs: []string{"[::1]:7000"}, DB: 1}},
		{url: "redis-sentinel://s1:26379,s2,s3:26380/mymaster",
			want: Conn{Topology: Sentinel, Addrs: []string{"s1:26379", "s2:26379", "s3:26380"}, MasterName: "mymaster"}},
		{url: "redis-sentinel://:pw@s1/mymaster/3?sentinel_password=spw&sentinel_username=sent",
			want: Conn{Topology: Sentinel, Addrs: []string{"s1:26379"}, MasterName: "mymaster", Password: "pw", DB: 3, SentinelUsername: "sent", SentinelPassword: "spw"}},
		{url: "rediss-sentinel://s1:26379/m", want: Conn{Topology: Sentinel, Addrs: []string{"s1:26379"}, MasterName: "m", TLS: true}},
		{url: "redis-cluster://n1:7000,n2:7001,n3", want: Conn{Topology: Cluster, Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}}},
		{url: "rediss-cluster://u:pw@n1:7000/", want: Conn{Topology: Cluster, Addrs: []string{"n1:7000"}, Username: "u", Password: "pw", TLS: true}},
		{url: "REDIS://h/1", want: Conn{Topology: Single, Addrs: []string{"h:6379"}, DB: 1}},

		{url: "127.0.0.1:6379", err: "not a Redis URL"},
		{url: "http://h", err: `unsupported scheme "http"`},
		{url: "redis-socket:///tmp/r.sock", err: "unsupported scheme"},
		{url: "redis://a:1,b:2/0", err: "takes one host"},
		{url: "redis://", err: "host is missing"},
		{url: "redis://h1,,h2", err: "host is missing"},
		{url: "redis-cluster://h1,,h2", err: "host is missing"},
		{url: "redis://h:99999/0", err: "port is not a number"},
		{url: "redis://h:abc/0", err: "port is not a number"},
		{url: "redis://h/x", err: `database "x" is not a number`},
		{url: "redis://h/1/2", err: "nothing may follow"},
		{url: "redis-sentinel://s1:26379", err: "names its master"},
		{url: "redis-sentinel://s1:26379/m/1/2", err: "/<master>[/db]"},
		{url: "redis-sentinel://s1/m/x", err: "not a number"},
		{url: "redis-cluster://n1/3", err: "only database 0"},
		{url: "redis://h/0?dial_timeout=1s", err: `unknown option "dial_timeout"`},
		{url: "redis://h/0?sentinel_password=x", err: "belongs to sentinel URLs"},
		{url: "redis://u:pa/ss@h/0", err: "percent-encode"},
		{url: "redis://u:%zz@h/0", err: "password is not validly percent-encoded"},
	} {
		got, err := Parse(tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) =\n %+v, want\n %+v", tc.url, got, tc.want)
			continue
		}
		// URL writes it back so that Parse reads the same Conn.
		back, err := Parse(got.URL())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("Parse(%q).URL() = %q reads back as %+v, %v", tc.url, got.URL(), back, err)
		}
	}
}

// No error and no redacted form shows a password, however the URL is
// malformed around it.
func TestPasswordNeverEchoed(t *testing.T) {
	const pw = "Hunter2Secret"
	for _, u := range []string{
		"redis://u:" + pw + "@h:99999/0",
		"redis://u:" + pw + "@h/x",
		"redis://u:" + pw + "@a,b/0",
		"redis://u:" + pw + "/x@h/0",
		"redis://u:" + pw + "?x@h/0",
		"redis://:" + pw + "@h:abc",
		"redis-sentinel://:" + pw + "@s1",
		"redis-sentinel://:pw@s1/m?sentinel_password=" + pw + "&bogus=1",
		"redis-cluster://:" + pw + "@n1/5",
		"redis-sentinel://:" + pw + "@s1/m/x",
		"http://:" + pw + "@h",
	} {
		_, err := Parse(u)
		if err == nil {
			t.Errorf("Parse(%q) accepted a malformed URL", u)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Parse error echoes the password: %v", err)
		}
	}
	for _, u := range []string{"redis://u:" + pw + "@h/1", "redis-sentinel://:" + pw + "@s/m?sentinel_password=" + pw, "rediss-cluster://:" + pw + "@n"} {
		c, err := Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.Redacted(); strings.Contains(r, pw) || !strings.Contains(r, "xxxxx") {
			t.Errorf("Redacted() = %q", r)
		}
	}
}

// Client and Asynq build the same topology, so the queue and the rate
// limiter always share one Redis.
func TestClientAndAsynqAgree(t *testing.T) {
	for _, tc := range []struct {
		url    string
		client any
		asynq  asynq.RedisConnOpt
	}{
		{"redis://:pw@h:1/2", &redis.Client{}, asynq.RedisClientOpt{Addr: "h:1", Password: "pw", DB: 2}},
		{"redis-sentinel://:pw@s1,s2/m/2?sentinel_password=sp", &redis.Client{},
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:26379", "s2:26379"}, SentinelPassword: "sp", Password: "pw", DB: 2}},
		{"redis-cluster://n1:7000,n2:7001", &redis.ClusterClient{}, asynq.RedisClusterClientOpt{Addrs: []string{"n1:7000", "n2:7001"}}},
	} {
		c, err := Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		cl := c.Client()
		if reflect.TypeOf(cl) != reflect.TypeOf(tc.client) {
			t.Errorf("%s: Client() is %T, want %T", tc.url, cl, tc.client)
		}
		cl.Close()
		if got := c.Asynq(); !reflect.DeepEqual(got, tc.asynq) {
			t.Errorf("%s: Asynq() = %+v, want %+v", tc.url, got, tc.asynq)
		}
		// Asynq's own client is of the same kind.
		ac := c.Asynq().MakeRedisClient()
		if reflect.TypeOf(ac) != reflect.TypeOf(tc.client) {
			t.Errorf("%s: asynq makes %T, want %T", tc.url, ac, tc.client)
		}
		ac.(redis.UniversalClient).Close()
	}
	tlsc, _ := Parse("rediss://cache.example:6380/0")
	if cfg := tlsc.Asynq().(asynq.RedisClientOpt).TLSConfig; cfg == nil || cfg.ServerName != "cache.example" {
		t.Errorf("rediss TLS config = %+v, want ServerName cache.example", cfg)
	}
}

func TestWithDB(t *testing.T) {
	c, _ := Parse("redis-sentinel://s1/m/0")
	d, err := c.WithDB(5)
	if err != nil || d.DB != 5 || d.URL() != "redis-sentinel://s1:26379/m/5" {
		t.Errorf("WithDB(5) = %+v (%s), %v", d, d.URL(), err)
	}
	cl, _ := Parse("redis-cluster://n1")
	if _, err := cl.WithDB(1); err == nil {
		t.Error("a cluster accepted database 1")
	}
}
