// Package k8srt is scfd's Kubernetes sandbox driver: it runs each instance
// as a Pod, through client-go, and satisfies the same sandbox contract as
// the local runc driver (internal/localrt), proven by sandboxtest.Run.
//
// Kubernetes is the engine: scfd creates one Pod per instance (the
// function's image by digest, its argv, environment, memory, CPU and
// writable-layer limits; see podFor), lets the scheduler place it, and
// deletes it when the instance stops. A single informer watches every
// scfd Pod of the namespace and routes each change to its instance: the
// Pod's IP, its container's start, its exit (an OOM kill, an exit code, an
// eviction). Readiness is scfd's own: once the Pod has an IP, scfd connects
// to IP:port every few milliseconds within the instance's start-up budget,
// so the kubelet's 1 s probes are not on the cold-start path. Output comes
// from the Pod's log stream; memory from the kubelet's summary statistics,
// sampled in the background.
//
// scfd must reach Pod IPs: run it in the cluster network (a Pod, see
// deploy/kubernetes) or on a node. New deletes the Pods a previous run
// left in the namespace (found by label): one scfd owns one namespace.
package k8srt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scfd/scfd/internal/sandbox"
)

// Defaults of Options.
const (
	DefaultNamespace      = "scfd"
	DefaultPullSecretName = "scfd-registry"
	DefaultPoll           = 2 * time.Millisecond
	DefaultPendingTimeout = 2 * time.Minute
	DefaultStatsInterval  = time.Second
	DefaultStopTimeout    = 30 * time.Second
)

// Options configures a Driver.
type Options struct {
	// Client talks to the cluster. Required.
	Client kubernetes.Interface
	// Namespace holds the instances' Pods. Empty means DefaultNamespace.
	// It must exist.
	Namespace string
	// Account fills the built-in environment variables.
	Account sandbox.Account
	// DockerConfigJSON is the content of a Docker config.json. When it
	// has "auths", they become the image pull secret PullSecretName of
	// every Pod; credential helpers and stores cannot be handed to the
	// kubelet and are ignored. Nil means no pull secret.
	DockerConfigJSON []byte
	// PullSecretName names the pull secret. Empty means
	// DefaultPullSecretName.
	PullSecretName string
	// SplitLogStreams reads stdout and stderr as two log streams. It needs
	// the PodLogsQuerySplitStreams feature gate on the API server and the
	// kubelets (alpha in 1.34). False reads one stream and delivers every
	// line as stdout.
	SplitLogStreams bool
	// Poll is the interval of the start-up connection check. Zero means
	// DefaultPoll.
	Poll time.Duration
	// PendingTimeout bounds the time from creating a Pod until it has an
	// IP (scheduling, image pull, sandbox). The start-up budget of the
	// server (Spec.StartupTimeout) begins after it. Zero means
	// DefaultPendingTimeout.
	PendingTimeout time.Duration
	// StatsInterval is how often the kubelets' summary statistics are
	// read for the memory of live instances. Zero means
	// DefaultStatsInterval.
	StatsInterval time.Duration
	// StopTimeout bounds the wait for a deleted Pod to be gone. Zero
	// means DefaultStopTimeout.
	StopTimeout time.Duration
	// Replica names this scfd among replicas sharing the namespace
	// (package cluster): its Pods carry it as LabelReplica, and at start
	// it removes only its own leftovers (those of a replica that died are
	// removed by the new owners of its functions: RemoveReplicaPods).
	// Empty: the only scfd of the namespace, which removes every scfd Pod
	// at start.
	Replica string
	// Logger receives background errors. Nil discards them.
	Logger *slog.Logger
}

// Driver runs instances as Pods. It implements sandbox.Driver.
type Driver struct {
	opts       Options
	log        *slog.Logger
	client     kubernetes.Interface
	pullSecret string // empty: none
	informer   cache.SharedIndexInformer
	stop       chan struct{}
	stats      *sampler

	mu    sync.Mutex
	live  map[string]*instance // by Pod name
	close sync.Once
}

var _ sandbox.Driver = (*Driver)(nil)

// The client's rate to the API server. client-go's default (5 requests
// a second, bursts of 10) queues cold starts behind each other: each
// start creates a Pod and each idle instance deletes one, and a replica
// taking over another's functions starts and deletes many at once.
const (
	apiQPS   = 100
	apiBurst = 200
)

// RESTConfig returns the cluster configuration: from kubeconfig when it is
// not empty, else the in-cluster configuration of a Pod's service account,
// else $KUBECONFIG or ~/.kube/config.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	c, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c.QPS, c.Burst = apiQPS, apiBurst
	return c, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("k8srt: cluster configuration: %w", err)
	}
	return c, nil
}

// managedSelector selects every Pod scfd made.
func managedSelector() string {
	return labels.Set{LabelManagedBy: ManagedBy}.String()
}

// replicaSelector selects the Pods of one replica.
func replicaSelector(replica string) string {
	return labels.Set{LabelManagedBy: ManagedBy, LabelReplica: labelValue(replica)}.String()
}

// New deletes the Pods a previous run left in the namespace, writes the
// pull secret, and starts watching the namespace's scfd Pods.
func New(ctx context.Context, opts Options) (_ *Driver, err error) {
	if opts.Client == nil {
		return nil, errors.New("k8srt: Client is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.PullSecretName == "" {
		opts.PullSecretName = DefaultPullSecretName
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.PendingTimeout == 0 {
		opts.PendingTimeout = DefaultPendingTimeout
	}
	if opts.StatsInterval == 0 {
		opts.StatsInterval = DefaultStatsInterval
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{
		opts: opts, log: log, client: opts.Client,
		live: map[string]*instance{}, stop: make(chan struct{}),
	}
	if err := d.removeLeftovers(ctx); err != nil {
		return nil, err
	}
	if d.pullSecret, err = d.writePullSecret(ctx); err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managedSelector() }))
	d.informer = factory.Core().V1().Pods().Informer()
	if _, err := d.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.observe(obj, false) },
		UpdateFunc: func(_, obj any) { d.observe(obj, false) },
		DeleteFunc: func(obj any) { d.observe(obj, true) },
	}); err != nil {
		return nil, fmt.Errorf("k8srt: watch pods: %w", err)
	}
	go d.informer.Run(d.stop)
	if !cache.WaitForCacheSync(ctx.Done(), d.informer.HasSynced) {
		close(d.stop)
		return nil, fmt.Errorf("k8srt: watch pods in namespace %s: %w", opts.Namespace, context.Cause(ctx))
	}
	d.stats = newSampler(d, opts.StatsInterval)
	go d.stats.run(d.stop)
	return d, nil
}

// removeLeftovers deletes every scfd Pod of the namespace, or of this
// replica (Options.Replica): after a restart, none of them belongs to
// anyone.
func (d *Driver) removeLeftovers(ctx context.Context) error {
	pods := d.client.CoreV1().Pods(d.opts.Namespace)
	selector := managedSelector()
	if d.opts.Replica != "" {
		selector = replicaSelector(d.opts.Replica)
	}
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("k8srt: list pods in namespace %s: %w", d.opts.Namespace, err)
	}
	var errs []error
	for _, p := range list.Items {
		err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("k8srt: delete leftover pod %s: %w", p.Name, err))
		} else {
			d.log.Info("k8srt: deleted a pod of a previous run", "pod", p.Name)
		}
	}
	return errors.Join(errs...)
}

// writePullSecret creates or updates the image pull secret from the
// "auths" of DockerConfigJSON and returns its name, or "" when there are
// no credentials.
func (d *Driver) writePullSecret(ctx context.Context) (string, error) {
	if len(d.opts.DockerConfigJSON) == 0 {
		return "", nil
	}
	var cfg struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(d.opts.DockerConfigJSON, &cfg); err != nil {
		return "", fmt.Errorf("k8srt: docker config.json: %w", err)
	}
	if len(cfg.Auths) == 0 {
		return "", nil
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.opts.PullSecretName, Namespace: d.opts.Namespace,
			Labels: map[string]string{LabelManagedBy: ManagedBy},
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: data},
	}
	secrets := d.client.CoreV1().Secrets(d.opts.Namespace)
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("k8srt: write pull secret %s: %w", d.opts.PullSecretName, err)
	}
	return d.opts.PullSecretName, nil
}

// observe routes a Pod change to its instance.
func (d *Driver) observe(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	d.mu.Lock()
	in := d.live[pod.Name]
	d.mu.Unlock()
	if in != nil && (in.uid == "" || in.uid == pod.UID) {
		in.update(pod, deleted)
	}
}

// instances returns the live instances.
func (d *Driver) instances() []*instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*instance, 0, len(d.live))
	for _, in := range d.live {
		out = append(out, in)
	}
	return out
}

// Close stops every live instance and the watch.
func (d *Driver) Close(ctx context.Context) error {
	var errs []error
	d.close.Do(func() {
		for _, in := range d.instances() {
			errs = append(errs, in.Stop(ctx))
		}
		close(d.stop)
	})
	return errors.Join(errs...)
}

// Leftovers lists the scfd Pods still in the namespace. Empty after Close,
// or after every instance stopped.
func (d *Driver) Leftovers(ctx context.Context) ([]string, error) {
	list, err := d.client.CoreV1().Pods(d.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: managedSelector()})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, "pod "+p.Name)
	}
	return out, nil
}

// RemoveReplicaPods deletes the Pods that the replica (a replica that
// left or died, see Options.Replica) made for the functions mine
// accepts: the new owner of a function removes its old owner's instances
// of it. It returns how many it deleted.
func (d *Driver) RemoveReplicaPods(ctx context.Context, replica string, mine func(namespace, function string) bool) (int, error) {
	if replica == "" {
		return 0, errors.New("k8srt: RemoveReplicaPods needs a replica")
	}
	pods := d.client.CoreV1().Pods(d.opts.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: replicaSelector(replica)})
	if err != nil {
		return 0, fmt.Errorf("k8srt: list pods of replica %s: %w", replica, err)
	}
	var errs []error
	n := 0
	for _, name := range podsOf(list.Items, replica, mine) {
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		switch {
		case err == nil:
			n++
		case !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("k8srt: delete pod %s of replica %s: %w", name, replica, err))
		}
	}
	return n, errors.Join(errs...)
}

// podsOf names the pods of replica whose function (by the exact values of
// the annotations) mine accepts.
func podsOf(pods []corev1.Pod, replica string, mine func(namespace, function string) bool) []string {
	var out []string
	for _, p := range pods {
		a := p.Annotations
		if a[LabelReplica] == replica && p.Labels[LabelManagedBy] == ManagedBy && mine(a[LabelNamespace], a[LabelFunction]) {
			out = append(out, p.Name)
		}
	}
	return out
}
