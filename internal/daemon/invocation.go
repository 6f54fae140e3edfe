package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/kubernetes"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"

	"github.com/scfd/scfd/internal/invoke"
	"github.com/scfd/scfd/internal/k8srt"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// LogReapInterval is how often logs past their retention are deleted.
const LogReapInterval = time.Hour

// CredentialReuse is how long invocations of one namespace share the
// temporary credentials handed to them (see credentials.IssuerOptions).
const CredentialReuse = time.Minute

// dataPlane is the data plane: the runtime driver, the pool, the logs,
// the temporary credentials and the invoker.
type dataPlane struct {
	driver  driver // nil when instances cannot run here
	pool    *pool.Pool
	logs    *logs.Store
	issuer  *credentials.Issuer
	invoker *invoke.Invoker
	stop    context.CancelFunc
}

// driver is the sandbox driver of the configured backend.
type driver interface {
	sandbox.Driver
	Close(ctx context.Context) error
}

// newDriver starts the driver of c.Backend: local runc containers, or
// Pods of the cluster of c.Kubeconfig (in-cluster when empty) in
// c.K8sNamespace, with the Docker config.json's credentials as their
// image pull secret.
func newDriver(ctx context.Context, c *config.Config, acct sandbox.Account, replica string, log *slog.Logger) (driver, error) {
	if c.Backend == config.BackendKubernetes {
		rc, err := k8srt.RESTConfig(c.Kubeconfig)
		if err != nil {
			return nil, err
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		dir := c.DockerConfig
		if dir == "" {
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, ".docker")
			}
		}
		dockerConfig, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("docker config: %w", err)
		}
		d, err := k8srt.New(ctx, k8srt.Options{
			Client: client, Namespace: c.K8sNamespace, Account: acct,
			DockerConfigJSON: dockerConfig, Replica: replica, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	network, subnet, cgroup := RuntimeNames(c.DataDir)
	d, err := localrt.New(ctx, localrt.Options{
		DataDir:      filepath.Join(c.DataDir, "runtime"),
		Runtime:      c.OCIRuntime,
		Account:      acct,
		CgroupParent: cgroup,
		Network:      netns.Options{Name: network, Subnet: subnet},
		Logger:       log,

		HostUserNamespace: !c.UserNamespaces,
		// Keep one container prepared for each function version deployed
		// or started, so that its next cold start only starts a process.
		Spares:            int(min(c.PreparedMaxMemory, 1)), // none when the budget is 0
		PreparedMaxMemory: c.PreparedMaxMemory,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// exitGrace is how long an invocation whose connection broke waits to
// learn why the process ended. A Pod's exit reaches scfd after the
// kubelet's next relist (every second) and status update, through the
// watch; a local exit at once. Zero is the invoker's default.
func exitGrace(backend string) time.Duration {
	if backend == config.BackendKubernetes {
		return 10 * time.Second
	}
	return 0
}

// RuntimeNames derives, from the data directory, the names a server's
// instances use on the host: the CNI network and firewall chains, the
// instances' subnet and the cgroup parent. Distinct data directories get
// distinct names, so several servers can run on one machine (the tests
// run one per test file); one data directory keeps its names across
// restarts, so a restarted server finds and removes what it left. The
// subnet is a /22 (1021 instances) in 10.210.0.0 to 10.249.255.255.
func RuntimeNames(dataDir string) (network, subnet, cgroupParent string) {
	h := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	tag := hex.EncodeToString(h[:3])
	network = "scfd" + tag
	subnet = fmt.Sprintf("10.%d.%d.0/22", 210+int(h[3])%40, int(h[4])&0xfc)
	return network, subnet, "scfd-" + tag
}

// startInvocation builds the data plane. When the runtime cannot start
// (not root, no runc), the server still serves the control plane and
// every invocation fails with the reason. With replicas sharing the
// work, replica names this one (its Pods on Kubernetes) and owns tells
// which functions its pool holds; owns nil: all.
func startInvocation(ctx context.Context, c *config.Config, log *slog.Logger, st *store.Store, cache pool.Images, issuer *credentials.Issuer, rec invoke.Recorder, replica string, owns func(namespace, name string) bool) (*dataPlane, error) {
	ls, err := logs.Open(ctx, st, logs.Options{Logger: log, MaxBytes: logBudget(c)})
	if err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	bg, stop := context.WithCancel(context.Background())
	go ls.RunReaper(bg, LogReapInterval)
	inv := &dataPlane{logs: ls, issuer: issuer, stop: stop}
	acct := sandbox.Account{Region: c.Region, AppID: c.AppID, UIN: c.UIN}
	var instances invoke.Instances
	inv.driver, err = newDriver(ctx, c, acct, replica, log)
	if err != nil {
		log.Error("instances cannot run on this host; invocations will fail", "err", err)
		inv.driver = nil
		instances = unavailable{err: err}
	} else {
		inv.pool, err = pool.New(ctx, pool.Options{
			Driver:      inv.driver,
			Images:      cache,
			Store:       st,
			IdleTimeout: c.IdleTimeout,
			Owns:        owns,
			Logger:      log,
			InstanceLog: func(fn *scf.Function, l sandbox.LogLine) {
				ls.Instance(fn.Namespace, fn.Name, fn.Version, l)
			},
			OnProvisioned: func(fn *scf.Function, id string, cs pool.ColdStart) {
				ls.Instance(fn.Namespace, fn.Name, fn.Version, sandbox.LogLine{Instance: id, Stream: sandbox.Stdout, Time: time.Now(),
					Text: provisionedReport(id, fn, cs)})
			},
		})
		if err != nil {
			inv.close(ctx, log)
			return nil, fmt.Errorf("start the instance pool: %w", err)
		}
		instances = inv.pool
	}
	inv.invoker = invoke.New(invoke.Options{
		Functions:   st,
		Aliases:     st,
		Instances:   instances,
		Logs:        ls,
		Recorder:    rec,
		Credentials: inv.issuer,
		Account:     acct,
		Logger:      log,
		ExitGrace:   exitGrace(c.Backend),
	})
	return inv, nil
}

// provisionedReport is the log line of a provisioned instance's warm-up,
// in SCF's format.
func provisionedReport(id string, fn *scf.Function, cs pool.ColdStart) string {
	return fmt.Sprintf("Provisioned Report RequestId:%s InitDuration:%.3fms Memory:%dMB", id,
		float64(cs.Total.Microseconds())/1000, fn.MemorySize)
}

// close stops the instances, removes the runtime's host state and flushes
// the logs.
func (inv *dataPlane) close(ctx context.Context, log *slog.Logger) error {
	var errs []error
	if inv.pool != nil {
		errs = append(errs, inv.pool.Close(ctx))
	}
	if inv.driver != nil {
		errs = append(errs, inv.driver.Close(ctx))
		if local, ok := inv.driver.(*localrt.Driver); ok {
			if err := local.Network().RemoveFirewall(); err != nil {
				log.Warn("removing the instances' firewall chains", "err", err)
			}
		}
	}
	inv.stop()
	errs = append(errs, inv.logs.Close())
	return errors.Join(errs...)
}

// unavailable is the Instances of a host that cannot run instances.
type unavailable struct{ err error }

func (u unavailable) Acquire(ctx context.Context, fn *scf.Function) (pool.Lease, error) {
	return nil, errdefs.New(errdefs.ErrUnavailable, "", "instances cannot run on this scfd host (see its log): %v", u.err)
}

// logBudget is SCFD_LOG_MAX_BYTES, or the automatic budget from the data
// directory's free space.
func logBudget(c *config.Config) int64 {
	if c.LogMaxBytes > 0 {
		return c.LogMaxBytes
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(c.DataDir, &fs); err != nil {
		return config.LogBudget(10 << 30 * 4)
	}
	return config.LogBudget(fs.Bavail * uint64(fs.Bsize))
}
