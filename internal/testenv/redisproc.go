package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisProc is a private redis-server (or Sentinel) process of one test, on
// a free port of 127.0.0.1, with its files in the test's temporary
// directory. Tests that kill, stop or fail over Redis use these rather than
// the shared server, which other packages' tests are using at the same time.
type RedisProc struct {
	proc
	t    testing.TB
	Addr string // 127.0.0.1:port
	Port int
	dir  string
	args []string
}

// RedisServerBinary is the redis-server executable the helpers start; a
// test that needs one skips when it is not installed (scripts/services
// installs it with the Debian redis package, which also provides Sentinel
// as `redis-server --sentinel`). Under -short the test is skipped
// (SkipProcesses).
func RedisServerBinary(t testing.TB) string {
	t.Helper()
	SkipProcesses(t, "redis-server")
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	return p
}

// StartRedisServer starts a redis-server without persistence; directives
// are extra configuration given as command-line pairs, e.g.
// "--replicaof", "127.0.0.1 6380".
func StartRedisServer(t testing.TB, directives ...string) *RedisProc {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, directives...)
	r := &RedisProc{t: t, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, dir: dir, args: args}
	r.Start()
	return r
}

// StartSentinel starts a Sentinel monitoring master (host:port) under name
// with quorum 1, a master declared down after downAfter and the failover
// timeout short, so a test sees a failover within a few seconds.
func StartSentinel(t testing.TB, name, master string, downAfter time.Duration) *RedisProc {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	host, mport, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatalf("testenv: sentinel master %q: %v", master, err)
	}
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 1
`, port, dir, filepath.Join(dir, "sentinel.log"), name, host, mport, name, downAfter.Milliseconds(), name, name)
	// Sentinel rewrites its configuration file, so it must be writable.
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	r := &RedisProc{t: t, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, dir: dir,
		args: []string{path, "--sentinel"}}
	r.Start()
	return r
}

// Start (re)starts the process with its arguments and waits until it
// answers PING. A restarted server keeps its port and starts empty.
func (r *RedisProc) Start() {
	r.t.Helper()
	r.proc = startProc(r.t, "redis-server", exec.Command(RedisServerBinary(r.t), r.args...))
	r.t.Cleanup(r.Kill)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("testenv: redis-server %v exited at start:\n%s", r.args, r.Log())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("testenv: redis-server on %s does not answer: %v\n%s", r.Addr, err, r.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client is a plain client of this process (for the test's own checks).
func (r *RedisProc) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// Log is the process's log so far (for failure messages).
func (r *RedisProc) Log() string {
	for _, f := range []string{"redis.log", "sentinel.log"} {
		if b, err := os.ReadFile(filepath.Join(r.dir, f)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return "(no log)"
}

// FreeAddr is a free "127.0.0.1:port" for a process under test to listen
// on (a worker's metrics, a served stack).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(freePort(t))
}

// freePort is a free TCP port on 127.0.0.1 for a process the test starts,
// which binds it later. The kernel hands out ports of its ephemeral range to
// every ":0" listener and outgoing connection of every process on the host,
// so a port it picked may be taken again before the child binds it (a
// parallel package's server did that once). freePort picks from below that
// range instead, where only other tests' picks can land.
func freePort(t testing.TB) int {
	t.Helper()
	if lo, ok := ephemeralLow(); ok && lo > portsFrom+1000 {
		for range 100 {
			p := portsFrom + rand.IntN(lo-portsFrom)
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				ln.Close()
				return p
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// portsFrom is the lowest port freePort picks: above the registered ports
// of common local services.
const portsFrom = 20000

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	lo, err := strconv.Atoi(f[0])
	return lo, err == nil
}

// SentinelSet is a master, one replica and a Sentinel watching them: the
// smallest set that can fail over.
type SentinelSet struct {
	t                         testing.TB
	Name                      string // the master's name at the Sentinel
	Master, Replica, Sentinel *RedisProc
}

// StartSentinelSet starts the set and waits until the replica is in sync and
// the Sentinel knows it, so killing the master leads to a failover.
func StartSentinelSet(t testing.TB) *SentinelSet {
	t.Helper()
	s := &SentinelSet{t: t, Name: "nudgemaster"}
	s.Master = StartRedisServer(t)
	s.Replica = StartRedisServer(t, "--replicaof", "127.0.0.1 "+strconv.Itoa(s.Master.Port))
	s.Sentinel = StartSentinel(t, s.Name, s.Master.Addr, time.Second)
	ctx := context.Background()
	replica, sentinel := s.Replica.Client(), redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer sentinel.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, _ := replica.Info(ctx, "replication").Result()
		known, _ := sentinel.Replicas(ctx, s.Name).Result()
		if strings.Contains(info, "master_link_status:up") && len(known) == 1 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: the sentinel set is not ready (replica: %q, replicas known to the sentinel: %v)\nsentinel log:\n%s",
				info, known, s.Sentinel.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the set's redis-sentinel:// URL on database db.
func (s *SentinelSet) URL(db int) string {
	return fmt.Sprintf("redis-sentinel://%s/%s/%d", s.Sentinel.Addr, s.Name, db)
}

// MasterAddr is the master's address as the Sentinel reports it now.
func (s *SentinelSet) MasterAddr() string {
	s.t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer c.Close()
	hp, err := c.GetMasterAddrByName(context.Background(), s.Name).Result()
	if err != nil {
		s.t.Fatalf("testenv: sentinel master of %s: %v", s.Name, err)
	}
	return net.JoinHostPort(hp[0], hp[1])
}

// WaitFailover waits until the Sentinel names the replica as the master.
func (s *SentinelSet) WaitFailover(limit time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	for s.MasterAddr() != s.Replica.Addr {
		if time.Since(start) > limit {
			s.t.Fatalf("testenv: no failover to %s after %v\nsentinel log:\n%s", s.Replica.Addr, limit, s.Sentinel.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// StartCluster starts a Redis Cluster of n masters (no replicas) with the
// 16384 slots split evenly, and returns its redis-cluster:// URL once every
// node reports the cluster ok.
func StartCluster(t testing.TB, n int) (string, []*RedisProc) {
	t.Helper()
	const slots = 16384
	ctx := context.Background()
	nodes := make([]*RedisProc, n)
	addrs := make([]string, n)
	bus := make([]int, n)
	for i := range nodes {
		// A free bus port too: by default it is the port + 10000, which
		// may be taken (or above 65535).
		bus[i] = freePort(t)
		nodes[i] = StartRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-port", strconv.Itoa(bus[i]))
		addrs[i] = nodes[i].Addr
		first, last := i*slots/n, (i+1)*slots/n-1
		if err := nodes[i].Client().Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			t.Fatalf("testenv: cluster slots %d-%d on %s: %v", first, last, nodes[i].Addr, err)
		}
	}
	for i, nd := range nodes[1:] {
		if err := nodes[0].Client().Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nd.Port, bus[i+1]).Err(); err != nil {
			t.Fatalf("testenv: cluster meet %s: %v", nd.Addr, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		for {
			info, err := nd.Client().ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: the cluster is not ok on %s: %q, %v\n%s", nd.Addr, info, err, nd.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return "redis-cluster://" + strings.Join(addrs, ","), nodes
}
