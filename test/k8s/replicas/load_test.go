//go:build k8s

package replicas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	scfdcluster "github.com/scfd/scfd/internal/cluster"
	"github.com/scfd/scfd/internal/tc3"
)

// The load's shape: workers of each kind, each sending one request after
// the other at a steady pace, which leaves the 2 CPUs of the test node
// room for the kubelet to start instances.
const (
	syncWorkers  = 2                      // Invoke, synchronous
	webWorkers   = 2                      // gateway requests of web functions
	asyncWorkers = 1                      // Invoke with InvocationType Event
	syncEvery    = 100 * time.Millisecond // the pace of each sync or web worker
	asyncEvery   = 500 * time.Millisecond // the pace of each async worker
	tickEvery    = 2 * time.Second        // the timer's schedule
)

// workload is the functions the load calls.
type workload struct {
	d      *deployment
	api    *client.Client
	http   *http.Client
	events []string // event functions, invoked both ways
	webs   []string // web functions, through the gateway
	timer  string   // the event function of a timer every tickEvery
}

// newWorkload creates the load's functions and the timer, and starts an
// instance of each.
func (d *deployment) newWorkload(ctx context.Context, t *testing.T) *workload {
	// A connection per request: each picks a replica behind the Service
	// anew, so that the load reaches every replica as its entry.
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: time.Second}).DialContext,
	}, Timeout: 2 * time.Minute}
	w := &workload{d: d, http: hc,
		api: client.New(d.api(), tc3.Credential{SecretID: secretID, SecretKey: secretKey}, client.WithHTTPClient(hc))}
	w.events = []string{"ev-0", "ev-1", "ev-2", "ev-3"}
	w.webs = []string{"web-0", "web-1", "web-2", "web-3"}
	w.timer = "tick"
	create := func(name, typ string) {
		err := w.api.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
			FunctionName: name, Type: typ, MemorySize: 64, Timeout: 30,
			Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: d.reg.Ref("e2e/testfunc:v1")}},
		}, nil)
		if err != nil {
			t.Fatalf("CreateFunction %s: %v", name, err)
		}
	}
	all := append(append(slices.Clone(w.events), w.webs...), w.timer)
	for _, name := range w.events {
		create(name, "Event")
	}
	for _, name := range w.webs {
		create(name, "HTTP")
	}
	create(w.timer, "Event")
	for _, name := range all {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var f api.GetFunctionResponse
			err := w.api.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: name}, &f)
			if err == nil && f.Status == "Active" {
				break
			}
			if time.Now().After(deadline) || f.Status == "CreateFailed" {
				t.Fatalf("function %s: %s %+v %v", name, f.Status, f.StatusReasons, err)
			}
			time.Sleep(200 * time.Millisecond) // polling the function's status
		}
	}
	// Each function's first instance started before the load.
	for _, name := range w.events {
		if err := w.api.Call(ctx, "Invoke", api.InvokeRequest{FunctionName: name, ClientContext: "{}"}, nil); err != nil {
			t.Fatalf("Invoke %s: %v", name, err)
		}
	}
	for _, name := range w.webs {
		res, err := hc.Post(d.gateway()+"/default/"+name+"/event-invoke", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("a request of %s: %v", name, err)
		}
		res.Body.Close()
	}
	err := w.api.Call(ctx, "CreateTrigger", api.CreateTriggerRequest{
		FunctionName: w.timer, TriggerName: "every-2s", Type: "timer", TriggerDesc: "*/2 * * * * * *",
	}, nil)
	if err != nil {
		t.Fatalf("CreateTrigger: %v", err)
	}
	return w
}

// pods lists the scfd Pods that are not being deleted, by name.
func (d *deployment) pods(ctx context.Context, t testing.TB) []corev1.Pod {
	list, err := d.client.CoreV1().Pods("scfd-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=scfd"})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

// outcome is one request of the load.
type outcome struct {
	kind    string // sync, web or async
	fn      string
	start   time.Time // of its first try
	end     time.Time
	err     error
	retries int    // tries refused (connection refused or timed out, 503 of a draining replica)
	id      string // async: the accepted event's request id
}

// load is the load running.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	outs []outcome
}

// start starts the load's workers.
func (w *workload) start(ctx context.Context) *load {
	l := &load{stop: make(chan struct{})}
	worker := func(kind string, first int, names []string, pace time.Duration, call func(fn string) (string, error)) {
		defer l.wg.Done()
		for i := first; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			o := outcome{kind: kind, fn: names[i%len(names)], start: time.Now()}
			for {
				o.id, o.err = call(o.fn)
				if !retryable(o.err) || time.Since(o.start) > 30*time.Second {
					break
				}
				o.retries++
				time.Sleep(250 * time.Millisecond) // a client's back-off before it retries
			}
			o.end = time.Now()
			l.mu.Lock()
			l.outs = append(l.outs, o)
			l.mu.Unlock()
			if pace > 0 {
				time.Sleep(pace) // the pace of events, not a wait for anything
			}
		}
	}
	invoke := func(typ, event string) func(string) (string, error) {
		return func(fn string) (string, error) {
			var res api.InvokeResponse
			err := w.api.Call(ctx, "Invoke", api.InvokeRequest{FunctionName: fn, InvocationType: typ, ClientContext: event}, &res)
			if err == nil && res.Result.InvokeResult != 0 {
				err = fmt.Errorf("invocation failed (%d): %s", res.Result.InvokeResult, res.Result.ErrMsg)
			}
			return res.Result.FunctionRequestId, err
		}
	}
	web := func(fn string) (string, error) {
		res, err := w.http.Post(w.d.gateway()+"/default/"+fn+"/event-invoke", "application/json", strings.NewReader(`{"sleep_ms":20}`))
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return "", err
		}
		switch {
		case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
			return "", errDraining
		case res.StatusCode != http.StatusOK:
			return "", fmt.Errorf("HTTP %d: %.200s", res.StatusCode, body)
		}
		return res.Header.Get("X-Scf-Request-Id"), nil
	}
	for i := range syncWorkers {
		l.wg.Add(1)
		go worker("sync", i, w.events, syncEvery, invoke("RequestResponse", `{"sleep_ms":20}`))
	}
	for i := range webWorkers {
		l.wg.Add(1)
		go worker("web", i, w.webs, syncEvery, web)
	}
	for i := range asyncWorkers {
		l.wg.Add(1)
		go worker("async", i, w.events, asyncEvery, invoke("Event", `{"sleep_ms":100}`))
	}
	return l
}

// snapshot returns the outcomes so far.
func (l *load) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.outs)
}

// servedAgain says whether each of fns but the timer had a request
// started after killAt succeed.
func servedAgain(outs []outcome, fns []string, timer string, killAt time.Time) bool {
	for _, fn := range fns {
		if fn == timer {
			continue
		}
		if !slices.ContainsFunc(outs, func(o outcome) bool { return o.fn == fn && o.err == nil && o.start.After(killAt) }) {
			return false
		}
	}
	return true
}

// end stops the load and returns its outcomes.
func (l *load) end() []outcome {
	close(l.stop)
	l.wg.Wait()
	return l.outs
}

// errDraining is a gateway's 503 with Retry-After: the replica is
// draining and another takes the retry.
var errDraining = errors.New("503 with Retry-After")

// retryable tells whether a client should try again: nothing ran (the
// connection was refused or timed out; a draining replica's 503).
func retryable(err error) bool {
	var op *net.OpError
	var apiErr *client.APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, errDraining):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == "ServiceUnavailable"
	case errors.As(err, &op):
		return op.Op == "dial"
	}
	return false
}

// tally is what the load's outcomes of one kind come to.
type tally struct {
	sent, failed, retried int
	errs                  []string
}

// verdict checks the outcomes: those that failed must be allowed (by the
// phase: in flight on a killed replica), every accepted async event must
// finish, and the timer must have fired once per tick between from and
// to. It prints the figures.
func (w *workload) verdict(ctx context.Context, t *testing.T, phase string, outs []outcome, allowed func(outcome) bool, from, to time.Time) {
	tallies := map[string]*tally{"sync": {}, "web": {}, "async": {}}
	var accepted []string
	for _, o := range outs {
		k := tallies[o.kind]
		k.sent++
		if o.retries > 0 {
			k.retried++
		}
		switch {
		case o.err == nil && o.kind == "async":
			accepted = append(accepted, o.id)
		case o.err != nil:
			k.failed++
			if !allowed(o) {
				k.errs = append(k.errs, fmt.Sprintf("%s %s at +%.1fs, after %.1fs: %v", o.kind, o.fn, o.start.Sub(from).Seconds(), o.end.Sub(o.start).Seconds(), o.err))
			}
		}
	}
	for _, kind := range []string{"sync", "web", "async"} {
		k := tallies[kind]
		for _, e := range k.errs {
			t.Errorf("%s: a request failed that should not have: %s", phase, e)
		}
		fmt.Printf("%s: %s requests %d, failed %d (%d not allowed), retried after a refused connection or a 503 %d\n",
			phase, kind, k.sent, k.failed, len(k.errs), k.retried)
	}
	lost, waited := w.waitEvents(ctx, t, accepted)
	fmt.Printf("%s: async events accepted %d, not finished %d (all finished %.1f s after the load)\n", phase, len(accepted), len(lost), waited.Seconds())
	if len(lost) > 0 {
		t.Errorf("%s: %d accepted async events did not finish: %v", phase, len(lost), lost)
	}
	ticks, bad := w.timerTicks(ctx, t, from, to)
	fmt.Printf("%s: timer ticks %d, not fired exactly once %d\n", phase, ticks, len(bad))
	if len(bad) > 0 {
		t.Errorf("%s: timer ticks not fired exactly once: %v", phase, bad)
	}
}

// waitEvents waits, up to 2 minutes, for the async events ids to finish
// (a lease of a killed replica expires in 30 to 40 s), and returns those
// that did not and how long it waited.
func (w *workload) waitEvents(ctx context.Context, t *testing.T, ids []string) ([]string, time.Duration) {
	start := time.Now()
	pending := slices.Clone(ids)
	for len(pending) > 0 && time.Since(start) < 2*time.Minute {
		var still []string
		for _, id := range pending {
			var res api.GetAsyncEventStatusResponse
			err := w.api.Call(ctx, "GetAsyncEventStatus", api.GetAsyncEventStatusRequest{InvokeRequestId: id}, &res)
			if err != nil && !retryable(err) {
				t.Errorf("GetAsyncEventStatus %s: %v", id, err)
			}
			if err != nil || res.Result.Status != "FINISHED" {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(time.Second) // polling the events' status
		}
	}
	return pending, time.Since(start)
}

// timerTicks reads the timer function's logs and returns the number of
// ticks between from and to (less a tick at each end) and those that did
// not run under exactly one request id.
func (w *workload) timerTicks(ctx context.Context, t *testing.T, from, to time.Time) (int, []string) {
	// The ticks' events run before they are logged.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var res api.ListAsyncEventsResponse
		err := w.api.Call(ctx, "ListAsyncEvents", api.ListAsyncEventsRequest{FunctionName: w.timer, Status: []string{"RUNNING"}}, &res)
		if err == nil && res.TotalCount == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("timer events still running after 2 minutes: %v", err)
			break
		}
		time.Sleep(time.Second) // polling the events' status
	}
	ids := map[string]map[string]bool{} // by scheduled time
	for offset := int64(0); ; offset += 100 {
		var res api.GetFunctionLogsResponse
		if err := w.api.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: w.timer, Offset: offset, Limit: 100, Order: "asc"}, &res); err != nil {
			t.Fatalf("GetFunctionLogs: %v", err)
		}
		for _, l := range res.Data {
			var answer struct {
				Event struct{ Time string }
			}
			if json.Unmarshal([]byte(l.RetMsg), &answer) != nil || answer.Event.Time == "" {
				continue // an attempt that did not answer
			}
			if ids[answer.Event.Time] == nil {
				ids[answer.Event.Time] = map[string]bool{}
			}
			ids[answer.Event.Time][l.RequestId] = true
		}
		if len(res.Data) < 100 {
			break
		}
	}
	var bad []string
	n := 0
	for at := from.Truncate(tickEvery).Add(2 * tickEvery); at.Before(to.Add(-2 * tickEvery)); at = at.Add(tickEvery) {
		n++
		key := at.UTC().Format(time.RFC3339)
		if got := len(ids[key]); got != 1 {
			bad = append(bad, fmt.Sprintf("%s: %d", key, got))
		}
	}
	return n, bad
}

// killUnderLoad kills the victim replica's process and force-deletes its
// Pod under load, and checks what it costs: only requests in flight at the
// kill may fail, no accepted event is lost, the timer fires once per
// tick, and the survivors take its functions over within 5 s.
func (d *deployment) killUnderLoad(ctx context.Context, t *testing.T, w *workload) {
	// The victim: the replica that owns the most of the load's functions.
	pods := d.pods(ctx, t)
	var members []scfdcluster.Member
	for _, p := range pods {
		members = append(members, scfdcluster.Member{ID: p.Name})
	}
	view := scfdcluster.NewView("", members)
	ownedBy := map[string][]string{}
	for _, fn := range append(append(slices.Clone(w.events), w.webs...), w.timer) {
		owner, _ := view.Owner(scfdcluster.Key{Namespace: "default", Function: fn})
		ownedBy[owner.ID] = append(ownedBy[owner.ID], fn)
	}
	var victim *corev1.Pod
	var survivors []corev1.Pod
	for i := range pods {
		if victim == nil || len(ownedBy[pods[i].Name]) > len(ownedBy[victim.Name]) {
			victim = &pods[i]
		}
	}
	for _, p := range pods {
		if p.Name != victim.Name {
			survivors = append(survivors, p)
		}
	}
	if len(victim.Status.ContainerStatuses) == 0 {
		t.Fatalf("replica %s has no running container", victim.Name)
	}
	owned := ownedBy[victim.Name]
	container := strings.TrimPrefix(victim.Status.ContainerStatuses[0].ContainerID, "containerd://")

	from := time.Now()
	l := w.start(ctx)
	time.Sleep(8 * time.Second) // the load running before the kill
	// kubectl delete pod --grace-period=0 --force lets the kubelet stop
	// the container with a signal it could drain on: the process is
	// killed first, as a crash would.
	killAt, deadAt := kill(t, containerPID(t, container))
	zero := int64(0)
	if err := d.client.CoreV1().Pods("scfd-system").Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("deleting the Pod of replica %s: %v", victim.Name, err)
	}
	// The hand-over: every survivor's view has lost the victim (at its
	// first failed forward, which suspects it, or when its heartbeat is
	// 3 s old).
	gone := fmt.Sprintf("scfd_cluster_replica{replica=%q} 1", victim.Name)
	for _, p := range survivors {
		base := "http://" + net.JoinHostPort(p.Status.PodIP, "9100")
		for {
			metrics, err := scrape(base)
			if err == nil && !strings.Contains(metrics, gone) {
				break
			}
			if time.Since(killAt) > 30*time.Second {
				t.Fatalf("replica %s still sees %s 30 s after its kill (%v)", p.Name, victim.Name, err)
			}
			time.Sleep(50 * time.Millisecond) // polling the survivor's view
		}
	}
	handover := time.Since(killAt)
	// The survivors remove the victim's instances.
	for {
		pods, err := d.client.CoreV1().Pods("scfd").List(ctx, metav1.ListOptions{LabelSelector: "scfd.io/replica=" + victim.Name})
		if err == nil && len(pods.Items) == 0 {
			break
		}
		if time.Since(killAt) > time.Minute {
			t.Errorf("the instances of replica %s are still there a minute after its kill: %v", victim.Name, err)
			break
		}
		time.Sleep(250 * time.Millisecond) // polling the instances
	}
	removed := time.Since(killAt)
	// The Deployment's replacement joins, and the load goes on a while.
	d.waitReady(ctx, t, d.svc)
	d.checkReplicas(ctx, t)
	time.Sleep(5 * time.Second) // the load running after the replacement joined
	// On a loaded node a cold start takes up to tens of seconds, and the
	// web worker visits each function in turn: the load goes on until
	// each of the victim's functions was served again, for two minutes
	// after the kill at most.
	for !servedAgain(l.snapshot(), owned, w.timer, killAt) && time.Since(killAt) < 2*time.Minute {
		time.Sleep(time.Second) // polling the load's outcomes
	}
	outs := l.end()
	to := time.Now()
	// Out of every view for good.
	for _, p := range d.pods(ctx, t) {
		if metrics, err := scrape("http://" + net.JoinHostPort(p.Status.PodIP, "9100")); err != nil || strings.Contains(metrics, gone) {
			t.Errorf("replica %s sees the killed %s at the end (%v)", p.Name, victim.Name, err)
		}
	}

	// The first request of each of the victim's functions served after
	// the kill.
	served := time.Duration(0)
	for _, fn := range owned {
		first := time.Duration(-1)
		for _, o := range outs {
			if o.fn == fn && o.err == nil && o.start.After(killAt) && (first < 0 || o.end.Sub(killAt) < first) {
				first = o.end.Sub(killAt)
			}
		}
		if first < 0 && fn != w.timer {
			var tried []string
			for _, o := range outs {
				if o.fn == fn && o.end.After(killAt) {
					tried = append(tried, fmt.Sprintf("started %+.1f s, took %.1f s: %v", o.start.Sub(killAt).Seconds(), o.end.Sub(o.start).Seconds(), o.err))
				}
			}
			t.Errorf("no request of %s (owned by the killed replica) succeeded after the kill; its requests that ended after it: %q", fn, tried)
		}
		served = max(served, first)
	}
	phase := "kill of a replica under load"
	defer func() {
		if t.Failed() {
			d.dumpLogs(ctx, t)
		}
	}()
	fmt.Printf("%s: the survivors' views lost it %.2f s after the kill, its functions served again by %.2f s, its instances removed by %.1f s\n",
		phase, handover.Seconds(), served.Seconds(), removed.Seconds())
	if handover > 5*time.Second {
		t.Errorf("the hand-over took %v, more than 5 s", handover)
	}
	w.verdict(ctx, t, phase, outs, func(o outcome) bool {
		return o.start.Before(deadAt) && o.end.After(killAt)
	}, from, to)
}

// rollUnderLoad changes the Deployment's configuration, which replaces
// its Pods one by one, under load: no request may fail.
func (d *deployment) rollUnderLoad(ctx context.Context, t *testing.T, w *workload) {
	from := time.Now()
	l := w.start(ctx)
	time.Sleep(5 * time.Second) // the load running before the update
	before := d.pods(ctx, t)
	// A new configuration: instances kept a minute once idle, where the
	// SDK tests wanted 4 s.
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"scfd","env":[{"name":"SCFD_INSTANCE_IDLE_TIMEOUT","value":"60s"}]}]}}}}`
	if _, err := d.client.AppsV1().Deployments("scfd-system").Patch(ctx, "scfd", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		dep, err := d.client.AppsV1().Deployments("scfd-system").Get(ctx, "scfd", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		list, err := d.client.CoreV1().Pods("scfd-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=scfd"})
		if err != nil {
			t.Fatal(err)
		}
		n := *dep.Spec.Replicas
		if dep.Status.ObservedGeneration >= dep.Generation && dep.Status.UpdatedReplicas == n && dep.Status.ReadyReplicas == n &&
			dep.Status.Replicas == n && int32(len(list.Items)) == n && !slices.ContainsFunc(list.Items, func(p corev1.Pod) bool {
			return slices.ContainsFunc(before, func(b corev1.Pod) bool { return b.Name == p.Name })
		}) {
			break
		}
		if time.Since(start) > 5*time.Minute {
			d.dumpLogs(ctx, t)
			t.Fatalf("the rolling update has not ended after 5 minutes: %+v", dep.Status)
		}
		time.Sleep(500 * time.Millisecond) // polling the rollout
	}
	rolled := time.Since(start)
	d.checkReplicas(ctx, t)
	time.Sleep(5 * time.Second) // the load running after the update
	outs := l.end()
	phase := "rolling update under load"
	defer func() {
		if t.Failed() {
			d.dumpLogs(ctx, t)
		}
	}()
	fmt.Printf("%s: the 3 replicas replaced in %.1f s\n", phase, rolled.Seconds())
	w.verdict(ctx, t, phase, outs, func(outcome) bool { return false }, from, time.Now())
}

// containerPID returns the process ID of the first process of the
// container id: the process in the container's cgroup that runs scfd.
func containerPID(t *testing.T, id string) int {
	procs, err := filepath.Glob("/proc/[0-9]*/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range procs {
		cg, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(cg), id) {
			continue
		}
		dir := filepath.Dir(path)
		if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && strings.TrimSpace(string(comm)) == "scfd" {
			pid, err := strconv.Atoi(filepath.Base(dir))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("no scfd process in the cgroup of container %s", id)
	return 0
}

// kill kills the process pid and waits until it has exited. It returns
// when it sent the signal and when the process was gone: requests in
// flight in between were in flight at the kill.
func kill(t *testing.T, pid int) (killAt, deadAt time.Time) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(fd)
	killAt = time.Now()
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatalf("killing %d: %v", pid, err)
	}
	// A pidfd is readable once its process has exited.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("waiting for %d to exit: %v", pid, err)
		}
		return killAt, time.Now()
	}
}
