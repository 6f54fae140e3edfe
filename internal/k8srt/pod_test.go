package k8srt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

const testRef = "127.0.0.1:5000/ns/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testSpec() sandbox.Spec {
	return sandbox.Spec{
		ID: "iAB12_3", Namespace: "default", Function: "hello", Version: "",
		ImageRef: testRef,
		Image: sandbox.ImageConfig{
			Entrypoint: []string{"/server"}, Cmd: []string{"-listen", ":9000"},
			Env: []string{"PATH=/bin", "A=image"}, WorkingDir: "/srv", User: "1000:2000",
		},
		Args:     "-say 'a b'",
		Env:      []scf.Variable{{Key: "A", Value: "fn"}},
		MemoryMB: 256,
	}
}

func TestPodFor(t *testing.T) {
	acct := sandbox.Account{Region: "ap-guangzhou", AppID: "1", UIN: "2"}
	pod, err := podFor(testSpec(), acct, "fns", "pull")
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	if pod.Name != "scfd-iab12-3" || pod.Namespace != "fns" || pod.Spec.Hostname != "iab12-3" {
		t.Errorf("name %q namespace %q hostname %q", pod.Name, pod.Namespace, pod.Spec.Hostname)
	}
	wantLabels := map[string]string{
		LabelManagedBy: "scfd", LabelNamespace: "default", LabelFunction: "hello",
		LabelVersion: "LATEST", LabelInstance: "iAB12_3",
	}
	if d := cmp.Diff(wantLabels, pod.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	if pod.Annotations[LabelVersion] != "$LATEST" {
		t.Errorf("version annotation %q", pod.Annotations[LabelVersion])
	}
	if d := cmp.Diff([]string{"/server", "-say", "a b"}, c.Command); d != "" || c.Args != nil {
		t.Errorf("command (-want +got):\n%s args %q", d, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["A"] != "fn" || env["PATH"] != "/bin" || env["SCF_FUNCTIONNAME"] != "hello" || env["SCF_FUNCTIONVERSION"] != "$LATEST" || env["TENCENTCLOUD_UIN"] != "2" {
		t.Errorf("env %v", env)
	}
	if c.Image != testRef || c.WorkingDir != "/srv" {
		t.Errorf("image %q workdir %q", c.Image, c.WorkingDir)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Memory().Value() != 256<<20 || lim.Memory().Value() != 256<<20 {
		t.Errorf("memory request %v limit %v", req.Memory(), lim.Memory())
	}
	if req.Cpu().MilliValue() != 250 || !lim.Cpu().IsZero() {
		t.Errorf("cpu request %v limit %v; want 250m and none", req.Cpu(), lim.Cpu())
	}
	if lim.StorageEphemeral().Value() != scf.WritableLayerBytes {
		t.Errorf("ephemeral storage limit %v", lim.StorageEphemeral())
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || *sc.Privileged || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || *sc.RunAsUser != 1000 || *sc.RunAsGroup != 2000 {
		t.Errorf("security context %+v", sc)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || *pod.Spec.AutomountServiceAccountToken || *pod.Spec.EnableServiceLinks {
		t.Errorf("pod spec %+v", pod.Spec)
	}
	if len(pod.Spec.ImagePullSecrets) != 1 || pod.Spec.ImagePullSecrets[0].Name != "pull" {
		t.Errorf("pull secrets %v", pod.Spec.ImagePullSecrets)
	}
	if c.Ports[0].ContainerPort != 9000 {
		t.Errorf("port %d", c.Ports[0].ContainerPort)
	}

	spec := testSpec()
	spec.NoPublicNet = true
	if pod, err = podFor(spec, acct, "fns", "pull"); err != nil {
		t.Fatal(err)
	}
	if pod.Labels[LabelPublicNet] != PublicNetDisabled {
		t.Errorf("a function without public network: labels %v", pod.Labels)
	}
}

func TestPodForRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*sandbox.Spec)
	}{
		{"no image ref", func(s *sandbox.Spec) { s.ImageRef = "" }},
		{"tag not digest", func(s *sandbox.Spec) { s.ImageRef = "127.0.0.1:5000/app:1" }},
		{"bad quoting", func(s *sandbox.Spec) { s.Args = `"open` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec()
			tt.edit(&s)
			if _, err := podFor(s, sandbox.Account{}, "fns", ""); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("err = %v, want invalid argument", err)
			}
		})
	}
}

func TestNamedUserLeftToRuntime(t *testing.T) {
	s := testSpec()
	s.Image.User = "nobody"
	pod, err := podFor(s, sandbox.Account{}, "fns", "")
	if err != nil {
		t.Fatal(err)
	}
	if sc := pod.Spec.Containers[0].SecurityContext; sc.RunAsUser != nil || sc.RunAsGroup != nil {
		t.Errorf("runAsUser %v runAsGroup %v for a user name", sc.RunAsUser, sc.RunAsGroup)
	}
	if pod.Spec.ImagePullSecrets != nil {
		t.Errorf("pull secrets %v without a secret", pod.Spec.ImagePullSecrets)
	}
}

func TestCPUMillis(t *testing.T) {
	for mb, want := range map[int64]int64{64: 63, 128: 125, 1024: 1000, 3072: 3000, 1: 2} {
		if got := cpuMillis(mb); got != want {
			t.Errorf("cpuMillis(%d) = %d, want %d", mb, got, want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"$LATEST": "LATEST", "12": "12", "my_fn-1": "my_fn-1", "a/b c": "a-b-c",
		"-x-": "x", string(make([]byte, 70)): "",
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExitReason(t *testing.T) {
	now := time.Unix(100, 0)
	tests := []struct {
		name string
		term corev1.ContainerStateTerminated
		want sandbox.ExitReason
	}{
		{"oom", corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}, sandbox.ExitReason{Kind: sandbox.ExitOOM, Signal: 9, At: now}},
		{"code", corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 7}, sandbox.ExitReason{Kind: sandbox.ExitCode, Code: 7, At: now}},
		{"zero", corev1.ContainerStateTerminated{Reason: "Completed"}, sandbox.ExitReason{Kind: sandbox.ExitCode, At: now}},
		{"killed", corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 137}, sandbox.ExitReason{Kind: sandbox.ExitSignal, Signal: 9, At: now}},
		{"signal", corev1.ContainerStateTerminated{Signal: 15, ExitCode: 143}, sandbox.ExitReason{Kind: sandbox.ExitSignal, Signal: 15, At: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, exitReason(&tt.term, now)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestContainerMemory(t *testing.T) {
	b := []byte(`{"node":{},"pods":[
	 {"podRef":{"name":"scfd-a","namespace":"fns"},"containers":[{"name":"function","memory":{"usageBytes":100,"workingSetBytes":90}}]},
	 {"podRef":{"name":"scfd-b","namespace":"fns"},"containers":[{"name":"function","memory":{"workingSetBytes":50}},{"name":"other","memory":{"usageBytes":7}}]},
	 {"podRef":{"name":"scfd-c","namespace":"other"},"containers":[{"name":"function","memory":{"usageBytes":1}}]}]}`)
	got, err := containerMemory(b, "fns")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]uint64{"scfd-a": 100, "scfd-b": 50}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// New removes the scfd Pods a previous run left, and only those, and
// writes the pull secret from the Docker config's auths.
func TestNewRemovesLeftoversAndWritesPullSecret(t *testing.T) {
	pod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fns", Labels: labels}}
	}
	client := fake.NewClientset(
		pod("scfd-old", map[string]string{LabelManagedBy: ManagedBy}),
		pod("someone-else", map[string]string{"app": "x"}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := []byte(`{"auths":{"127.0.0.1:5000":{"auth":"dTpw"}},"credsStore":"desktop"}`)
	d, err := New(ctx, Options{Client: client, Namespace: "fns", DockerConfigJSON: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	pods, err := client.CoreV1().Pods("fns").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	if d := cmp.Diff([]string{"someone-else"}, names); d != "" {
		t.Errorf("pods left (-want +got):\n%s", d)
	}
	s, err := client.CoreV1().Secrets("fns").Get(ctx, DefaultPullSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson || string(s.Data[corev1.DockerConfigJsonKey]) != `{"auths":{"127.0.0.1:5000":{"auth":"dTpw"}}}` {
		t.Errorf("secret %s %q", s.Type, s.Data[corev1.DockerConfigJsonKey])
	}
	// A second start updates the secret instead of failing.
	d2, err := New(ctx, Options{Client: client, Namespace: "fns", DockerConfigJSON: cfg})
	if err != nil {
		t.Fatal(err)
	}
	d2.Close(ctx)
}

func TestReplicaPods(t *testing.T) {
	pod := func(name, replica, ns, fn string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "fns",
			Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelReplica: labelValue(replica), LabelNamespace: labelValue(ns), LabelFunction: labelValue(fn)},
			Annotations: map[string]string{LabelReplica: replica, LabelNamespace: ns, LabelFunction: fn},
		}}
	}
	client := fake.NewClientset(
		pod("scfd-mine-old", "r1", "default", "a"),
		pod("scfd-other-live", "r2", "default", "a"),
		pod("scfd-dead-a", "dead", "default", "a"),
		pod("scfd-dead-b", "dead", "default", "b"),
		pod("scfd-dead-a-team", "dead", "team", "a"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := func() []string {
		pods, err := client.CoreV1().Pods("fns").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pods.Items {
			out = append(out, p.Name)
		}
		return out
	}
	// A replica removes its own leftovers at start, no other replica's.
	d, err := New(ctx, Options{Client: client, Namespace: "fns", Replica: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if diff := cmp.Diff([]string{"scfd-dead-a", "scfd-dead-a-team", "scfd-dead-b", "scfd-other-live"}, names()); diff != "" {
		t.Errorf("after the start of r1 (-want +got):\n%s", diff)
	}
	// The new owner of default/a removes the dead replica's Pods of it.
	n, err := d.RemoveReplicaPods(ctx, "dead", func(ns, fn string) bool { return ns == "default" && fn == "a" })
	if err != nil || n != 1 {
		t.Fatalf("RemoveReplicaPods = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff([]string{"scfd-dead-a-team", "scfd-dead-b", "scfd-other-live"}, names()); diff != "" {
		t.Errorf("after removing the dead replica's Pods of default/a (-want +got):\n%s", diff)
	}
	if _, err := d.RemoveReplicaPods(ctx, "", func(string, string) bool { return true }); err == nil {
		t.Error("RemoveReplicaPods without a replica removed something")
	}
}
