package config

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

func TestDefaults(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIAddr != DefaultAPIAddr || c.GatewayAddr != DefaultGatewayAddr || c.Region != DefaultRegion ||
		c.IdleTimeout != DefaultIdleTimeout || c.OCIRuntime != "runc" || c.ImageCacheMax != 0 ||
		c.ShutdownGrace != DefaultShutdownGrace || c.DebugAddr != "" || c.MetricsToken != "" ||
		c.PreparedMaxMemory <= 0 || c.PreparedMaxMemory != totalMemory()/20 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{
		"SCFD_API_ADDR":              "127.0.0.1:1234",
		"SCFD_INSECURE_REGISTRIES":   "127.0.0.1:5000, localhost:5001",
		"SCFD_INSTANCE_IDLE_TIMEOUT": "90s",
		"SCFD_IMAGE_CACHE_MAX":       "2G",
		"SCFD_SHUTDOWN_GRACE":        "5s",
		"SCFD_DEBUG_ADDR":            "127.0.0.1:6060",
		"SCFD_PREPARED_MAX_MEMORY":   "512M",
		"SCFD_METRICS_TOKEN":         "a scrape token of some length",
	}
	c, err := load(t, env, "--api-addr", "127.0.0.1:4321")
	if err != nil {
		t.Fatal(err)
	}
	if c.APIAddr != "127.0.0.1:4321" {
		t.Errorf("flag did not win over the variable: %q", c.APIAddr)
	}
	if got := strings.Join(c.InsecureRegistries, ","); got != "127.0.0.1:5000,localhost:5001" {
		t.Errorf("InsecureRegistries = %q", got)
	}
	if c.IdleTimeout != 90*time.Second || c.ImageCacheMax != 2<<30 || c.PreparedMaxMemory != 512<<20 {
		t.Errorf("IdleTimeout %v, ImageCacheMax %d, PreparedMaxMemory %d", c.IdleTimeout, c.ImageCacheMax, c.PreparedMaxMemory)
	}
	if c.ShutdownGrace != 5*time.Second || c.DebugAddr != "127.0.0.1:6060" {
		t.Errorf("ShutdownGrace %v, DebugAddr %q", c.ShutdownGrace, c.DebugAddr)
	}
	if c.MetricsToken != "a scrape token of some length" {
		t.Errorf("MetricsToken %q", c.MetricsToken)
	}
}

func TestInvalidNamesTheSetting(t *testing.T) {
	for env, val := range map[string]string{
		"SCFD_API_ADDR":              "nonsense",
		"SCFD_GATEWAY_ADDR":          "127.0.0.1:99999",
		"SCFD_INSTANCE_IDLE_TIMEOUT": "soon",
		"SCFD_APPID":                 "abc",
		"SCFD_IMAGE_CACHE_MAX":       "lots",
		"SCFD_SHUTDOWN_GRACE":        "-1s",
		"SCFD_DEBUG_ADDR":            "nowhere",
		"SCFD_PREPARED_MAX_MEMORY":   "150%",
		"SCFD_SECRET_ID":             "AKIDonly",
		"SCFD_INSECURE_REGISTRIES":   "http://x/y",
		"SCFD_LOG_FORMAT":            "xml",
		"SCFD_PRICE_GB_SECOND":       "cheap",
		"SCFD_PRICE_OUTBOUND_GB":     "-1",
		"SCFD_FREE_TIER":             "sometimes",
		"SCFD_REGISTRY_ADDR":         "registry.example:9300",
		"SCFD_METRICS_TOKEN":         "short",
	} {
		_, err := load(t, map[string]string{env: val})
		if err == nil {
			t.Errorf("%s=%q accepted", env, val)
			continue
		}
		if !strings.Contains(err.Error(), env) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: error %q does not name the setting on one line", env, val, err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "512M": 512 << 20, "512MB": 512 << 20, "2g": 2 << 30, "1T": 1 << 40} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1X", "lots"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

func TestRegistryAddr(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, DefaultRegistryAddr},
		{"variable", map[string]string{"SCFD_REGISTRY_ADDR": "0.0.0.0:5000"}, nil, "0.0.0.0:5000"},
		{"off by variable", map[string]string{"SCFD_REGISTRY_ADDR": "off"}, nil, ""},
		{"off by an empty flag", map[string]string{"SCFD_REGISTRY_ADDR": "0.0.0.0:5000"}, []string{"--registry-addr="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.RegistryAddr != tt.want {
				t.Errorf("RegistryAddr = %q, want %q", c.RegistryAddr, tt.want)
			}
		})
	}
}

func TestBackend(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != BackendLocal || c.K8sNamespace != DefaultK8sNamespace || c.Kubeconfig != "" {
		t.Errorf("defaults: backend %q namespace %q kubeconfig %q", c.Backend, c.K8sNamespace, c.Kubeconfig)
	}
	c, err = load(t, map[string]string{"SCFD_BACKEND": "kubernetes", "SCFD_K8S_NAMESPACE": "fns", "KUBECONFIG": "/k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != BackendKubernetes || c.K8sNamespace != "fns" || c.Kubeconfig != "/k" {
		t.Errorf("from the environment: backend %q namespace %q kubeconfig %q", c.Backend, c.K8sNamespace, c.Kubeconfig)
	}
	for env, val := range map[string]string{"SCFD_BACKEND": "nomad", "SCFD_K8S_NAMESPACE": "Not_A_Name"} {
		_, err := load(t, map[string]string{"SCFD_BACKEND": "kubernetes", env: val})
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%q: err %v, want one naming %s", env, val, err, env)
		}
	}
}

func TestPrices(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Prices{GBSecond: 0.0000167, Per10kInvocations: 0.002, IdleGBSecond: 0.00000847, OutboundGB: 0.1203, FreeTier: true}
	if c.Prices != want {
		t.Errorf("default prices %+v, want %+v", c.Prices, want)
	}
	c, err = load(t, map[string]string{"SCFD_PRICE_GB_SECOND": "0.00002", "SCFD_FREE_TIER": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Prices.GBSecond != 0.00002 || c.Prices.FreeTier {
		t.Errorf("prices %+v", c.Prices)
	}
}

func TestParseShare(t *testing.T) {
	total := func() int64 { return 1000 }
	for in, want := range map[string]int64{"5%": 50, "0": 0, "0%": 0, "2K": 2048, " 12.5% ": 125} {
		got, err := parseShare(in, total)
		if err != nil || got != want {
			t.Errorf("parseShare(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x%", "-1%", "101%", "lots"} {
		if _, err := parseShare(in, total); err == nil {
			t.Errorf("parseShare(%q) accepted", in)
		}
	}
}

func TestTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    TLS
		wantErr string
	}{
		{"off by default", nil, TLS{}, ""},
		{"off", map[string]string{"SCFD_TLS": "off"}, TLS{}, ""},
		{"self-signed", map[string]string{"SCFD_TLS": "self-signed"}, TLS{SelfSigned: true}, ""},
		{"files", map[string]string{"SCFD_TLS_CERT": "/c.pem", "SCFD_TLS_KEY": "/k.pem"}, TLS{CertFile: "/c.pem", KeyFile: "/k.pem"}, ""},
		{"cert without key", map[string]string{"SCFD_TLS_CERT": "/c.pem"}, TLS{}, "SCFD_TLS_CERT/SCFD_TLS_KEY"},
		{"self-signed and files", map[string]string{"SCFD_TLS": "self-signed", "SCFD_TLS_CERT": "/c.pem", "SCFD_TLS_KEY": "/k.pem"}, TLS{}, "SCFD_TLS"},
		{"off and files", map[string]string{"SCFD_TLS": "off", "SCFD_TLS_CERT": "/c.pem", "SCFD_TLS_KEY": "/k.pem"}, TLS{}, "SCFD_TLS"},
		{"unknown mode", map[string]string{"SCFD_TLS": "on"}, TLS{}, "invalid SCFD_TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.TLS != tc.want || c.TLS.Enabled() != (tc.want != TLS{}) {
				t.Errorf("TLS = %+v, want %+v", c.TLS, tc.want)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"unset: SQLite", "", true},
		{"postgres", "postgres://scfd:pw@db:5432/scfd?sslmode=disable", true},
		{"postgresql", "postgresql://db/scfd", true},
		{"another database", "mysql://db/scfd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, map[string]string{"SCFD_DATABASE_URL": tc.url})
			if tc.ok != (err == nil) {
				t.Fatalf("SCFD_DATABASE_URL=%q: %v", tc.url, err)
			}
			if err == nil && c.DatabaseURL != tc.url {
				t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, tc.url)
			}
			if err != nil && !strings.Contains(err.Error(), "SCFD_DATABASE_URL") {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
}

func TestCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Cluster
		wantErr string
	}{
		{"off by default", nil, Cluster{}, ""},
		{"an address", map[string]string{"SCFD_CLUSTER_ADDR": "0.0.0.0:9400", "SCFD_CLUSTER_ADVERTISE": "10.1.2.3:9400", "SCFD_CLUSTER_SECRET": "0123456789abcdef"},
			Cluster{Addr: "0.0.0.0:9400", Advertise: "10.1.2.3:9400", Secret: "0123456789abcdef"}, ""},
		{"a bad address", map[string]string{"SCFD_CLUSTER_ADDR": "replica:9400"}, Cluster{}, "SCFD_CLUSTER_ADDR"},
		{"advertised port 0", map[string]string{"SCFD_CLUSTER_ADDR": ":9400", "SCFD_CLUSTER_ADVERTISE": "10.1.2.3:0"}, Cluster{}, "SCFD_CLUSTER_ADVERTISE"},
		{"advertised without a host", map[string]string{"SCFD_CLUSTER_ADDR": ":9400", "SCFD_CLUSTER_ADVERTISE": ":9400"}, Cluster{}, "SCFD_CLUSTER_ADVERTISE"},
		{"every address, none advertised", map[string]string{"SCFD_CLUSTER_ADDR": ":9400"}, Cluster{}, "SCFD_CLUSTER_ADVERTISE"},
		{"a short secret", map[string]string{"SCFD_CLUSTER_ADDR": "127.0.0.1:9400", "SCFD_CLUSTER_SECRET": "short"}, Cluster{}, "SCFD_CLUSTER_SECRET"},
		{"a secret without an address", map[string]string{"SCFD_CLUSTER_SECRET": "0123456789abcdef"}, Cluster{}, "SCFD_CLUSTER_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Cluster != tc.want || c.Cluster.Enabled() != (tc.want.Addr != "") {
				t.Errorf("Cluster = %+v, want %+v", c.Cluster, tc.want)
			}
		})
	}
}

// The debug listener serves the profiler and every tenant's metrics
// without credentials: it stays on loopback.
func TestDebugAddrStaysOnLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6060", "localhost:6060", "127.0.0.2:0"} {
		if c, err := load(t, map[string]string{"SCFD_DEBUG_ADDR": addr}); err != nil || c.DebugAddr != addr {
			t.Errorf("SCFD_DEBUG_ADDR=%q: %v", addr, err)
		}
	}
	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "10.0.0.5:6060"} {
		_, err := load(t, map[string]string{"SCFD_DEBUG_ADDR": addr})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("SCFD_DEBUG_ADDR=%q: error %v, want it refused as not loopback", addr, err)
		}
	}
}
