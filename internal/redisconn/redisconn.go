package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Topology is how the Redis behind a URL is deployed.
type Topology int

const (
	Single   Topology = iota // one server (redis://, rediss://)
	Sentinel                 // a master found through Sentinel (redis-sentinel://)
	Cluster                  // Redis Cluster (redis-cluster://)
)

func (t Topology) String() string {
	switch t {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// Default ports when a host names none.
const (
	defaultPort         = "6379"
	defaultSentinelPort = "26379"
)

// Conn is a parsed Redis URL: everything needed to open a connection.
type Conn struct {
	Topology Topology
	// Addrs are host:port: the server (Single), the sentinels (Sentinel) or
	// the seed nodes (Cluster).
	Addrs []string
	// MasterName is the Sentinel master's name (Sentinel only).
	MasterName string
	// Username and Password authenticate with the data nodes.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate with the sentinels.
	SentinelUsername, SentinelPassword string
	DB                                 int
	TLS                                bool
}

// schemes maps each accepted scheme to its topology and whether it uses TLS.
var schemes = map[string]struct {
	topo Topology
	tls  bool
}{
	"redis":           {Single, false},
	"rediss":          {Single, true},
	"redis-sentinel":  {Sentinel, false},
	"rediss-sentinel": {Sentinel, true},
	"redis-cluster":   {Cluster, false},
	"rediss-cluster":  {Cluster, true},
}

// Schemes lists the URL schemes Parse accepts (for messages and docs).
func Schemes() []string {
	return []string{"redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}
}

// Parse reads a Redis URL (see the package doc for the forms). Its errors
// never contain the password: they name what is wrong, not the URL.
func Parse(raw string) (Conn, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Conn{}, fmt.Errorf("not a Redis URL: want one of %s://…", strings.Join(Schemes(), ", "))
	}
	kind, ok := schemes[strings.ToLower(scheme)]
	if !ok {
		return Conn{}, fmt.Errorf("unsupported scheme %q: want one of %s", scheme, strings.Join(Schemes(), ", "))
	}
	c := Conn{Topology: kind.topo, TLS: kind.tls}
	// The authority ends at the first '/', '?' or '#'. A password holding one
	// of those must be percent-encoded; when it is not, the '@' turns up
	// after the authority, and saying so beats echoing a host made of the
	// password.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if !strings.Contains(authority, "@") && strings.Contains(tail, "@") {
		return Conn{}, errors.New("the user or password holds '/', '?' or '#': percent-encode it (%2F, %3F, %23)")
	}
	hosts := authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		user, pass, hasPass := strings.Cut(authority[:i], ":")
		var err error
		if c.Username, err = url.PathUnescape(user); err != nil {
			return Conn{}, errors.New("the user name is not validly percent-encoded")
		}
		if hasPass {
			if c.Password, err = url.PathUnescape(pass); err != nil {
				return Conn{}, errors.New("the password is not validly percent-encoded")
			}
		}
		hosts = authority[i+1:]
	}
	port := defaultPort
	if c.Topology == Sentinel {
		port = defaultSentinelPort
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h, port)
		if err != nil {
			return Conn{}, err
		}
		c.Addrs = append(c.Addrs, addr)
	}
	if c.Topology == Single && len(c.Addrs) > 1 {
		return Conn{}, fmt.Errorf("%s:// takes one host; several are a sentinel (%s-sentinel://) or cluster (%s-cluster://) URL", scheme, scheme, scheme)
	}
	path, query, _ := strings.Cut(tail, "?")
	path, _, _ = strings.Cut(path, "#")
	query, _, _ = strings.Cut(query, "#")
	if err := c.parsePath(path); err != nil {
		return Conn{}, err
	}
	if err := c.parseQuery(query); err != nil {
		return Conn{}, err
	}
	return c, nil
}

// hostPort validates one host of the authority and adds the default port.
func hostPort(h, port string) (string, error) {
	if h == "" {
		return "", errors.New("a host is missing")
	}
	if host, p, err := net.SplitHostPort(h); err == nil {
		if host == "" {
			return "", fmt.Errorf("host %q has no name", h)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("host %q: the port is not a number 1–65535", h)
		}
		return net.JoinHostPort(host, p), nil
	}
	if strings.ContainsAny(h, " /@") || (strings.Contains(h, ":") && !strings.HasPrefix(h, "[")) {
		return "", fmt.Errorf("host %q is not host or host:port", h)
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), port), nil
}

// parsePath reads /db (Single), /master[/db] (Sentinel) or nothing (Cluster).
func (c *Conn) parsePath(path string) error {
	var seg []string
	for _, s := range strings.Split(path, "/") {
		if s != "" {
			seg = append(seg, s)
		}
	}
	db := func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("database %q is not a number", s)
		}
		c.DB = n
		return nil
	}
	switch c.Topology {
	case Single:
		if len(seg) > 1 {
			return errors.New("the path is /<db>: nothing may follow the database number")
		}
		if len(seg) == 1 {
			return db(seg[0])
		}
	case Sentinel:
		if len(seg) == 0 {
			return errors.New("a sentinel URL names its master: redis-sentinel://host:26379/<master>[/db]")
		}
		if len(seg) > 2 {
			return errors.New("the path of a sentinel URL is /<master>[/db]")
		}
		name, err := url.PathUnescape(seg[0])
		if err != nil {
			return errors.New("the master name is not validly percent-encoded")
		}
		c.MasterName = name
		if len(seg) == 2 {
			return db(seg[1])
		}
	case Cluster:
		if len(seg) > 0 && !(len(seg) == 1 && seg[0] == "0") {
			return errors.New("a Redis Cluster has only database 0: give no path")
		}
	}
	return nil
}

// parseQuery reads the sentinels' own credentials; anything else is an
// error rather than silently ignored.
func (c *Conn) parseQuery(query string) error {
	if query == "" {
		return nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return errors.New("the query is not validly encoded")
	}
	for k := range q {
		switch k {
		case "sentinel_username", "sentinel_password":
			if c.Topology != Sentinel {
				return fmt.Errorf("option %s belongs to sentinel URLs", k)
			}
		default:
			return fmt.Errorf("unknown option %q (known: sentinel_username, sentinel_password)", k)
		}
	}
	c.SentinelUsername, c.SentinelPassword = q.Get("sentinel_username"), q.Get("sentinel_password")
	return nil
}

// tlsConfig is nil without TLS. A single server is verified under its host
// name; with several hosts the name comes from each dialled address
// (tls.DialWithDialer fills it in when empty).
func (c Conn) tlsConfig() *tls.Config {
	if !c.TLS {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Topology == Single {
		cfg.ServerName, _, _ = net.SplitHostPort(c.Addrs[0])
	}
	return cfg
}

// Client opens a go-redis client of the URL's topology.
func (c Conn) Client() redis.UniversalClient {
	switch c.Topology {
	case Sentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.MasterName, SentinelAddrs: c.Addrs,
			SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
			Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: c.tlsConfig(),
		})
	case Cluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.Addrs, Username: c.Username, Password: c.Password, TLSConfig: c.tlsConfig(),
		})
	}
	return redis.NewClient(&redis.Options{
		Addr: c.Addrs[0], Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: c.tlsConfig(),
	})
}

// Asynq is the same connection as Asynq's option type.
func (c Conn) Asynq() asynq.RedisConnOpt {
	switch c.Topology {
	case Sentinel:
		return asynq.RedisFailoverClientOpt{
			MasterName: c.MasterName, SentinelAddrs: c.Addrs,
			SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
			Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: c.tlsConfig(),
		}
	case Cluster:
		return asynq.RedisClusterClientOpt{
			Addrs: c.Addrs, Username: c.Username, Password: c.Password, TLSConfig: c.tlsConfig(),
		}
	}
	return asynq.RedisClientOpt{
		Addr: c.Addrs[0], Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: c.tlsConfig(),
	}
}

// WithDB is c on database n. A Cluster has only database 0.
func (c Conn) WithDB(n int) (Conn, error) {
	if c.Topology == Cluster && n != 0 {
		return c, fmt.Errorf("a Redis Cluster has only database 0, not %d", n)
	}
	c.DB = n
	return c, nil
}

// URL is c written back as a URL that Parse reads to an equal Conn (with
// the password: for handing to a child process, never for output).
func (c Conn) URL() string { return c.format(false) }

// Redacted is c as a URL with the passwords replaced by "xxxxx", for logs
// and messages.
func (c Conn) Redacted() string { return c.format(true) }

func (c Conn) format(redact bool) string {
	scheme := "redis"
	if c.TLS {
		scheme = "rediss"
	}
	if c.Topology != Single {
		scheme += "-" + c.Topology.String()
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if c.Username != "" || c.Password != "" {
		b.WriteString(escape(c.Username))
		if c.Password != "" {
			p := escape(c.Password)
			if redact {
				p = "xxxxx"
			}
			b.WriteString(":" + p)
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(c.Addrs, ","))
	switch c.Topology {
	case Single:
		b.WriteString("/" + strconv.Itoa(c.DB))
	case Sentinel:
		b.WriteString("/" + url.PathEscape(c.MasterName) + "/" + strconv.Itoa(c.DB))
	}
	q := url.Values{}
	if c.SentinelUsername != "" {
		q.Set("sentinel_username", c.SentinelUsername)
	}
	if c.SentinelPassword != "" {
		p := c.SentinelPassword
		if redact {
			p = "xxxxx"
		}
		q.Set("sentinel_password", p)
	}
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

// escape percent-encodes everything but RFC 3986's unreserved characters,
// so a user or password holding ':', '@', '/' or ',' reads back intact.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}
