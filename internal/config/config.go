// Package config holds the settings of `scfd serve` and the CLI: their
// names, defaults, the environment variables that set them, and their
// validation.
//
// Every setting is a flag and an environment variable of the same meaning;
// a flag given on the command line wins over the variable. Load validates
// everything at once and names the offending setting in its error, so a bad
// configuration stops the start with one clear line.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// Config is the whole configuration of one scfd server.
type Config struct {
	APIAddr            string        // SCFD_API_ADDR: the SCF API listener
	GatewayAddr        string        // SCFD_GATEWAY_ADDR: the web-function gateway listener
	RegistryAddr       string        // SCFD_REGISTRY_ADDR: the embedded image registry; empty = off
	DataDir            string        // SCFD_DATA_DIR: all state
	DatabaseURL        string        // SCFD_DATABASE_URL: postgres://... keeps the tables in PostgreSQL; empty = SQLite in DataDir
	SecretID           string        // SCFD_SECRET_ID: administrator key id; empty = stored or generated
	SecretKey          string        // SCFD_SECRET_KEY
	Region             string        // SCFD_REGION
	AppID              string        // SCFD_APPID
	UIN                string        // SCFD_UIN
	DockerConfig       string        // DOCKER_CONFIG: directory holding config.json
	InsecureRegistries []string      // SCFD_INSECURE_REGISTRIES: host:port reached over plain HTTP
	AllowedRegistries  []string      // SCFD_ALLOWED_REGISTRIES: host[:port] pulled from even on loopback, link-local or instance addresses; "*" = all
	ImageMaxUnpacked   int64         // SCFD_IMAGE_MAX_UNPACKED: bytes of files one image may unpack to
	ImageMaxFiles      int           // SCFD_IMAGE_MAX_FILES: entries one image's layers may hold
	IdleTimeout        time.Duration // SCFD_INSTANCE_IDLE_TIMEOUT
	OCIRuntime         string        // SCFD_OCI_RUNTIME
	UserNamespaces     bool          // SCFD_USER_NAMESPACES: a user namespace per instance (default true)
	Backend            string        // SCFD_BACKEND: where instances run, local or kubernetes
	K8sNamespace       string        // SCFD_K8S_NAMESPACE: the namespace of the instances' Pods
	Kubeconfig         string        // KUBECONFIG: empty = in-cluster, else ~/.kube/config
	ImageCacheMax      int64         // SCFD_IMAGE_CACHE_MAX: bytes, 0 = unlimited
	LogMaxBytes        int64         // SCFD_LOG_MAX_BYTES: bytes of invocation logs kept, 0 = automatic (see LogBudget)
	PreparedMaxMemory  int64         // SCFD_PREPARED_MAX_MEMORY: bytes the prepared containers may hold; 0 = none prepared
	LogFormat          string        // SCFD_LOG_FORMAT: text or json
	LogLevel           string        // SCFD_LOG_LEVEL: debug, info, warn, error
	Prices             Prices        // SCFD_PRICE_*, SCFD_FREE_TIER: what usage costs
	ShutdownGrace      time.Duration // SCFD_SHUTDOWN_GRACE: how long in-flight requests may finish after SIGTERM
	DebugAddr          string        // SCFD_DEBUG_ADDR: the net/http/pprof listener, which serves /metrics too; empty = off
	MetricsToken       string        // SCFD_METRICS_TOKEN: a bearer token that may read /metrics on the API listener; empty = only the administrator's key may
	ReplicaID          string        // SCFD_REPLICA_ID: this replica's name among those sharing the database; empty = kept in the data directory
	TLS                TLS           // SCFD_TLS, SCFD_TLS_CERT, SCFD_TLS_KEY: HTTPS on the API, gateway and registry
	Cluster            Cluster       // SCFD_CLUSTER_*: replicas sharing the work
}

// Cluster configures replicas that share the work (package cluster). The
// zero value is a single scfd, which forwards nothing.
type Cluster struct {
	Addr      string // SCFD_CLUSTER_ADDR: the internal listener; empty = no cluster
	Advertise string // SCFD_CLUSTER_ADVERTISE: host:port the other replicas reach it at; empty = Addr
	Secret    string // SCFD_CLUSTER_SECRET: authenticates requests between replicas; empty = DATA/cluster-secret
}

// Enabled reports whether this scfd is a replica of a cluster.
func (c Cluster) Enabled() bool { return c.Addr != "" }

// TLS says how the API, gateway and registry listeners speak HTTPS. The
// zero value is plain HTTP.
type TLS struct {
	CertFile, KeyFile string // SCFD_TLS_CERT, SCFD_TLS_KEY: PEM files of the certificate (chain) and its key
	SelfSigned        bool   // SCFD_TLS=self-signed: a certificate generated into DATA/tls
}

// Enabled reports whether the listeners speak HTTPS.
func (t TLS) Enabled() bool { return t.SelfSigned || t.CertFile != "" }

// TLSDir is where SCFD_TLS=self-signed keeps its certificate authority
// and certificate in the data directory; clients trust its ca.pem.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// TLS modes of SCFD_TLS.
const (
	TLSOff        = "off"
	TLSSelfSigned = "self-signed"
)

// Prices turn metered usage into cost (US dollars). The defaults are
// SCF's published international prices.
type Prices struct {
	GBSecond          float64 // SCFD_PRICE_GB_SECOND: per GB-second of execution
	Per10kInvocations float64 // SCFD_PRICE_10K_INVOCATIONS: per 10,000 invocations
	IdleGBSecond      float64 // SCFD_PRICE_IDLE_GB_SECOND: per GB-second of idle provisioned instances
	OutboundGB        float64 // SCFD_PRICE_OUTBOUND_GB: per GB sent out
	FreeTier          bool    // SCFD_FREE_TIER: deduct SCF's monthly free package
}

// Defaults of the settings that have fixed ones.
const (
	DefaultAPIAddr     = "127.0.0.1:9100"
	DefaultGatewayAddr = "127.0.0.1:9200"
	// DefaultRegistryAddr is where the embedded registry listens; the
	// value "off" (or an empty flag) turns it off.
	DefaultRegistryAddr = "127.0.0.1:9300"
	DefaultRegion       = "ap-guangzhou"
	DefaultAppID        = "1250000000"
	DefaultUIN          = "100000000001"
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultOCIRuntime   = "runc"
	DefaultBackend      = BackendLocal
	DefaultK8sNamespace = "scfd"
	// DefaultShutdownGrace bounds the drain after SIGTERM.
	DefaultShutdownGrace = 30 * time.Second
)

// MinMetricsToken is the shortest SCFD_METRICS_TOKEN accepted: a short
// one could be guessed.
const MinMetricsToken = 16

// The backends: where instances run.
const (
	BackendLocal      = "local"      // runc containers on this host
	BackendKubernetes = "kubernetes" // Pods of a Kubernetes cluster
)

// DefaultDataDir is /var/lib/scfd for root and ./scfd-data otherwise.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/scfd"
	}
	return "scfd-data"
}

// setting describes one flag and its variable.
type setting struct {
	flag, env, def, usage string
}

var settings = []setting{
	{"api-addr", "SCFD_API_ADDR", DefaultAPIAddr, "listen address of the SCF API"},
	{"gateway-addr", "SCFD_GATEWAY_ADDR", DefaultGatewayAddr, "listen address of the HTTP gateway for web functions"},
	{"registry-addr", "SCFD_REGISTRY_ADDR", DefaultRegistryAddr, "listen address of the embedded image registry (off or empty: no registry)"},
	{"data-dir", "SCFD_DATA_DIR", "", "all state: database, image cache, instances (default /var/lib/scfd as root, else ./scfd-data)"},
	{"database-url", "SCFD_DATABASE_URL", "", "postgres://user:password@host:port/database keeps every table in that PostgreSQL database, which several scfd may share (default: SQLite in the data dir)"},
	{"secret-id", "SCFD_SECRET_ID", "", "the administrator's SecretId (default: generated on first start and kept in the data dir)"},
	{"secret-key", "SCFD_SECRET_KEY", "", "the administrator's SecretKey"},
	{"region", "SCFD_REGION", DefaultRegion, "region that functions see"},
	{"appid", "SCFD_APPID", DefaultAppID, "app id that functions see"},
	{"uin", "SCFD_UIN", DefaultUIN, "account UIN that functions see"},
	{"docker-config", "DOCKER_CONFIG", "", "directory of the Docker config.json with registry credentials (default ~/.docker)"},
	{"insecure-registries", "SCFD_INSECURE_REGISTRIES", "", "comma-separated host:port registries reached over plain HTTP"},
	{"allowed-registries", "SCFD_ALLOWED_REGISTRIES", "", "comma-separated host or host:port registries pulled from even on loopback, link-local or the instances' addresses (* = any)"},
	{"image-max-unpacked", "SCFD_IMAGE_MAX_UNPACKED", "4G", "bytes of files one image may unpack to (suffixes K, M, G)"},
	{"image-max-files", "SCFD_IMAGE_MAX_FILES", "1000000", "files, directories and links one image may hold"},
	{"instance-idle-timeout", "SCFD_INSTANCE_IDLE_TIMEOUT", DefaultIdleTimeout.String(), "how long an idle instance is kept"},
	{"oci-runtime", "SCFD_OCI_RUNTIME", DefaultOCIRuntime, "the OCI runtime binary"},
	{"user-namespaces", "SCFD_USER_NAMESPACES", "true", "run each instance in a user namespace of its own, with host IDs no other instance has (false: in the host's, root in a container is root on the host)"},
	{"backend", "SCFD_BACKEND", DefaultBackend, "where instances run: local (runc on this host) or kubernetes (Pods)"},
	{"k8s-namespace", "SCFD_K8S_NAMESPACE", DefaultK8sNamespace, "Kubernetes namespace of the instances' Pods (backend kubernetes)"},
	{"kubeconfig", "KUBECONFIG", "", "kubeconfig of the cluster (backend kubernetes; default: in-cluster, else ~/.kube/config)"},
	{"image-cache-max", "SCFD_IMAGE_CACHE_MAX", "0", "image cache budget in bytes (suffixes K, M, G; 0 = unlimited)"},
	{"log-max-bytes", "SCFD_LOG_MAX_BYTES", "0", "bytes of invocation logs kept, the oldest deleted first (suffixes K, M, G; 0 = 10G or a quarter of the data directory's free space, whichever is less)"},
	{"prepared-max-memory", "SCFD_PREPARED_MAX_MEMORY", DefaultPreparedMaxMemory, "memory that containers prepared ahead of cold starts may hold (bytes with K, M, G, or a share of the machine's memory such as 5%; 0 = prepare none)"},
	{"log-format", "SCFD_LOG_FORMAT", "text", "server log format: text or json"},
	{"log-level", "SCFD_LOG_LEVEL", "info", "server log level: debug, info, warn or error"},
	{"price-gb-second", "SCFD_PRICE_GB_SECOND", "0.0000167", "price in USD of one GB-second of execution"},
	{"price-10k-invocations", "SCFD_PRICE_10K_INVOCATIONS", "0.002", "price in USD of 10,000 invocations"},
	{"price-idle-gb-second", "SCFD_PRICE_IDLE_GB_SECOND", "0.00000847", "price in USD of one GB-second of idle provisioned instances"},
	{"price-outbound-gb", "SCFD_PRICE_OUTBOUND_GB", "0.1203", "price in USD of one GB of outbound traffic"},
	{"free-tier", "SCFD_FREE_TIER", "true", "deduct SCF's monthly free package from the cost (true or false)"},
	{"shutdown-grace", "SCFD_SHUTDOWN_GRACE", DefaultShutdownGrace.String(), "how long in-flight requests may take to finish after SIGTERM (0: none)"},
	{"debug-addr", "SCFD_DEBUG_ADDR", "", "listen address of net/http/pprof's /debug/pprof/ and of /metrics without credentials (empty or off: none)"},
	{"metrics-token", "SCFD_METRICS_TOKEN", "", "bearer token, at least 16 characters, that may read /metrics on the API listener (Authorization: Bearer TOKEN); the administrator's SecretId and SecretKey as Basic credentials always may (default: no token)"},
	{"replica-id", "SCFD_REPLICA_ID", "", "this server's name among the replicas sharing its database, unique among those running; a server restarted under its name runs again at once the async events it was running (default: a name made at the first start and kept in the data directory)"},
	{"tls", "SCFD_TLS", "", "HTTPS on the API, gateway and registry: self-signed (a certificate generated into the data dir), or off (default: on with --tls-cert and --tls-key)"},
	{"tls-cert", "SCFD_TLS_CERT", "", "PEM file of the listeners' TLS certificate (and its chain)"},
	{"tls-key", "SCFD_TLS_KEY", "", "PEM file of the TLS certificate's private key"},
	{"cluster-addr", "SCFD_CLUSTER_ADDR", "", "listen address of the internal listener of replicas sharing the work (empty: a single scfd)"},
	{"cluster-advertise", "SCFD_CLUSTER_ADVERTISE", "", "host:port the other replicas reach the internal listener at (default: --cluster-addr)"},
	{"cluster-secret", "SCFD_CLUSTER_SECRET", "", "secret shared by the replicas, at least 16 characters (default: generated into the data dir)"},
}

// Flags registers every setting on fs with its environment variable's value
// (or its default) as the flag's default.
func Flags(fs *pflag.FlagSet, getenv func(string) string) {
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		fs.String(s.flag, def, fmt.Sprintf("%s [%s]", s.usage, s.env))
	}
}

// Load reads the settings registered by Flags and validates them.
func Load(fs *pflag.FlagSet) (*Config, error) {
	get := func(name string) string {
		v, _ := fs.GetString(name)
		return strings.TrimSpace(v)
	}
	c := &Config{
		APIAddr:      get("api-addr"),
		GatewayAddr:  get("gateway-addr"),
		RegistryAddr: get("registry-addr"),
		DataDir:      get("data-dir"),
		DatabaseURL:  get("database-url"),
		SecretID:     get("secret-id"),
		SecretKey:    get("secret-key"),
		Region:       get("region"),
		AppID:        get("appid"),
		UIN:          get("uin"),
		DockerConfig: get("docker-config"),
		OCIRuntime:   get("oci-runtime"),
		Backend:      get("backend"),
		K8sNamespace: get("k8s-namespace"),
		Kubeconfig:   get("kubeconfig"),
		LogFormat:    get("log-format"),
		LogLevel:     get("log-level"),
		DebugAddr:    get("debug-addr"),
		MetricsToken: get("metrics-token"),
		ReplicaID:    get("replica-id"),
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, fmt.Errorf("invalid SCFD_DATABASE_URL: it must start with postgres:// (unset, the tables are in SQLite in the data dir)")
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	for _, a := range []struct{ env, v string }{{"SCFD_API_ADDR", c.APIAddr}, {"SCFD_GATEWAY_ADDR", c.GatewayAddr}} {
		if err := checkAddr(a.v); err != nil {
			return nil, fmt.Errorf("invalid %s %q: %w", a.env, a.v, err)
		}
	}
	if c.RegistryAddr == "off" {
		c.RegistryAddr = ""
	}
	if c.RegistryAddr != "" {
		if err := checkAddr(c.RegistryAddr); err != nil {
			return nil, fmt.Errorf("invalid SCFD_REGISTRY_ADDR %q: %w", c.RegistryAddr, err)
		}
	}
	if c.DebugAddr == "off" {
		c.DebugAddr = ""
	}
	if c.DebugAddr != "" {
		if err := checkLoopback(c.DebugAddr); err != nil {
			return nil, fmt.Errorf("invalid SCFD_DEBUG_ADDR %q: %w", c.DebugAddr, err)
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < MinMetricsToken {
		return nil, fmt.Errorf("invalid SCFD_METRICS_TOKEN: want at least %d characters", MinMetricsToken)
	}
	cluster, err := loadCluster(get("cluster-addr"), get("cluster-advertise"), get("cluster-secret"))
	if err != nil {
		return nil, err
	}
	c.Cluster = cluster
	tls, err := loadTLS(get("tls"), get("tls-cert"), get("tls-key"))
	if err != nil {
		return nil, err
	}
	c.TLS = tls
	if (c.SecretID == "") != (c.SecretKey == "") {
		return nil, fmt.Errorf("invalid SCFD_SECRET_ID/SCFD_SECRET_KEY: set both or neither")
	}
	if c.Region == "" {
		return nil, fmt.Errorf("invalid SCFD_REGION: must not be empty")
	}
	for _, n := range []struct{ env, v string }{{"SCFD_APPID", c.AppID}, {"SCFD_UIN", c.UIN}} {
		if _, err := strconv.ParseUint(n.v, 10, 64); err != nil {
			return nil, fmt.Errorf("invalid %s %q: must be a number", n.env, n.v)
		}
	}
	if v := get("insecure-registries"); v != "" {
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" || strings.Contains(r, "/") {
				return nil, fmt.Errorf("invalid SCFD_INSECURE_REGISTRIES %q: want comma-separated host:port", v)
			}
			c.InsecureRegistries = append(c.InsecureRegistries, r)
		}
	}
	if v := get("allowed-registries"); v != "" {
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" || strings.Contains(r, "/") {
				return nil, fmt.Errorf("invalid SCFD_ALLOWED_REGISTRIES %q: want comma-separated host or host:port, or *", v)
			}
			c.AllowedRegistries = append(c.AllowedRegistries, r)
		}
	}
	var perr error
	if c.ImageMaxUnpacked, perr = ParseBytes(get("image-max-unpacked")); perr != nil || c.ImageMaxUnpacked <= 0 {
		return nil, fmt.Errorf("invalid SCFD_IMAGE_MAX_UNPACKED %q: want a positive size such as 4G", get("image-max-unpacked"))
	}
	if c.ImageMaxFiles, perr = strconv.Atoi(get("image-max-files")); perr != nil || c.ImageMaxFiles <= 0 {
		return nil, fmt.Errorf("invalid SCFD_IMAGE_MAX_FILES %q: want a positive number", get("image-max-files"))
	}
	d, err := time.ParseDuration(get("instance-idle-timeout"))
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("invalid SCFD_INSTANCE_IDLE_TIMEOUT %q: want a positive duration such as 10m", get("instance-idle-timeout"))
	}
	c.IdleTimeout = d
	if c.ShutdownGrace, err = time.ParseDuration(get("shutdown-grace")); err != nil || c.ShutdownGrace < 0 {
		return nil, fmt.Errorf("invalid SCFD_SHUTDOWN_GRACE %q: want a duration such as 30s, 0 or more", get("shutdown-grace"))
	}
	if c.OCIRuntime == "" {
		return nil, fmt.Errorf("invalid SCFD_OCI_RUNTIME: must not be empty")
	}
	switch c.Backend {
	case BackendLocal, BackendKubernetes:
	default:
		return nil, fmt.Errorf("invalid SCFD_BACKEND %q: want local or kubernetes", c.Backend)
	}
	if c.Backend == BackendKubernetes && !dnsLabel.MatchString(c.K8sNamespace) {
		return nil, fmt.Errorf("invalid SCFD_K8S_NAMESPACE %q: want a Kubernetes namespace name", c.K8sNamespace)
	}
	if c.ImageCacheMax, err = ParseBytes(get("image-cache-max")); err != nil {
		return nil, fmt.Errorf("invalid SCFD_IMAGE_CACHE_MAX %q: %w", get("image-cache-max"), err)
	}
	if c.LogMaxBytes, err = ParseBytes(get("log-max-bytes")); err != nil {
		return nil, fmt.Errorf("invalid SCFD_LOG_MAX_BYTES %q: %w", get("log-max-bytes"), err)
	}
	if c.PreparedMaxMemory, err = parseShare(get("prepared-max-memory"), totalMemory); err != nil {
		return nil, fmt.Errorf("invalid SCFD_PREPARED_MAX_MEMORY %q: %w", get("prepared-max-memory"), err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("invalid SCFD_LOG_FORMAT %q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("invalid SCFD_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	for _, p := range []struct {
		flag, env string
		to        *float64
	}{
		{"price-gb-second", "SCFD_PRICE_GB_SECOND", &c.Prices.GBSecond},
		{"price-10k-invocations", "SCFD_PRICE_10K_INVOCATIONS", &c.Prices.Per10kInvocations},
		{"price-idle-gb-second", "SCFD_PRICE_IDLE_GB_SECOND", &c.Prices.IdleGBSecond},
		{"price-outbound-gb", "SCFD_PRICE_OUTBOUND_GB", &c.Prices.OutboundGB},
	} {
		v, err := strconv.ParseFloat(get(p.flag), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("invalid %s %q: want a price in USD, 0 or more", p.env, get(p.flag))
		}
		*p.to = v
	}
	if c.Prices.FreeTier, err = strconv.ParseBool(get("free-tier")); err != nil {
		return nil, fmt.Errorf("invalid SCFD_FREE_TIER %q: want true or false", get("free-tier"))
	}
	if c.UserNamespaces, err = strconv.ParseBool(get("user-namespaces")); err != nil {
		return nil, fmt.Errorf("invalid SCFD_USER_NAMESPACES %q: want true or false", get("user-namespaces"))
	}
	return c, nil
}

func loadCluster(addr, advertise, secret string) (Cluster, error) {
	c := Cluster{Addr: addr, Advertise: advertise, Secret: secret}
	if addr == "" {
		if advertise != "" || secret != "" {
			return Cluster{}, fmt.Errorf("invalid SCFD_CLUSTER_ADVERTISE/SCFD_CLUSTER_SECRET: set SCFD_CLUSTER_ADDR too")
		}
		return c, nil
	}
	if err := checkAddr(addr); err != nil {
		return Cluster{}, fmt.Errorf("invalid SCFD_CLUSTER_ADDR %q: %w", addr, err)
	}
	if host, _, _ := net.SplitHostPort(addr); advertise == "" && (host == "" || net.ParseIP(host).IsUnspecified()) {
		return Cluster{}, fmt.Errorf("invalid SCFD_CLUSTER_ADVERTISE: SCFD_CLUSTER_ADDR %q listens on every address; set the address the other replicas reach", addr)
	}
	if advertise != "" {
		host, port, err := net.SplitHostPort(advertise)
		if err == nil && (host == "" || port == "" || port == "0") {
			err = fmt.Errorf("want host:port, the port not 0")
		}
		if err != nil {
			return Cluster{}, fmt.Errorf("invalid SCFD_CLUSTER_ADVERTISE %q: %w", advertise, err)
		}
	}
	if secret != "" && len(secret) < 16 {
		return Cluster{}, fmt.Errorf("invalid SCFD_CLUSTER_SECRET: want at least 16 characters")
	}
	return c, nil
}

func loadTLS(mode, cert, key string) (TLS, error) {
	t := TLS{CertFile: cert, KeyFile: key}
	if (cert == "") != (key == "") {
		return TLS{}, fmt.Errorf("invalid SCFD_TLS_CERT/SCFD_TLS_KEY: set both or neither")
	}
	switch mode {
	case "":
	case TLSOff:
		if cert != "" {
			return TLS{}, fmt.Errorf("invalid SCFD_TLS %q: SCFD_TLS_CERT is set too", mode)
		}
	case TLSSelfSigned:
		if cert != "" {
			return TLS{}, fmt.Errorf("invalid SCFD_TLS %q: SCFD_TLS_CERT is set too; use one or the other", mode)
		}
		t.SelfSigned = true
	default:
		return TLS{}, fmt.Errorf("invalid SCFD_TLS %q: want self-signed or off", mode)
	}
	return t, nil
}

// dnsLabel is the syntax of a Kubernetes namespace name (RFC 1123 label).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("host must be an IP address or localhost")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535")
	}
	return nil
}

// checkLoopback is checkAddr for a listener that must stay on the machine
// (its pages show every tenant's functions and scfd's memory): its host is
// a loopback address or localhost, never all interfaces.
func checkLoopback(addr string) error {
	if err := checkAddr(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("host must be a loopback address (127.0.0.1, ::1 or localhost): the listener serves the profiler and every tenant's metrics without credentials")
	}
	return nil
}

// ParseBytes reads a byte count with an optional K, M, G or T suffix
// (powers of 1024).
func ParseBytes(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a byte count such as 10G")
	}
	return v * mult, nil
}

// LogBudget is the log budget of SCFD_LOG_MAX_BYTES 0, given the data
// directory's free space: 10 GiB, or a quarter of the free space when
// that is less (at least 64 MiB).
func LogBudget(free uint64) int64 {
	return max(min(10<<30, int64(free/4)), 64<<20)
}

// DefaultPreparedMaxMemory is the default of SCFD_PREPARED_MAX_MEMORY: 5%
// of the machine's memory (1.2 GB of 24 GB: about 250 prepared
// containers of 4.7 MB).
const DefaultPreparedMaxMemory = "5%"

// parseShare parses a byte count (ParseBytes) or a percentage of total().
func parseShare(s string, total func() int64) (int64, error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || v > 100 {
			return 0, fmt.Errorf("want a byte count such as 512M or a share such as 5%%")
		}
		return int64(float64(total()) * v / 100), nil
	}
	n, err := ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("want a byte count such as 512M or a share such as 5%%")
	}
	return n, nil
}

// totalMemory is the machine's memory in bytes.
func totalMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
