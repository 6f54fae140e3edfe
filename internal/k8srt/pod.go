package k8srt

import (
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Labels and annotations of an instance's Pod. The label values are
// sanitised to Kubernetes' label syntax ("$LATEST" becomes "LATEST"); the
// annotations of the same names hold the exact values.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "scfd"
	LabelNamespace = "scfd.io/namespace"
	LabelFunction  = "scfd.io/function"
	LabelVersion   = "scfd.io/version"
	LabelInstance  = "scfd.io/instance"
	// LabelReplica names the scfd replica whose pool holds the instance
	// (Options.Replica), when scfd runs as several replicas.
	LabelReplica = "scfd.io/replica"
	// LabelPublicNet is "disabled" on the Pods of functions whose public
	// network access is disabled (Spec.NoPublicNet): the NetworkPolicy
	// "instances-without-public-net" of deploy/kubernetes denies their
	// egress.
	LabelPublicNet    = "scfd.io/public-net"
	PublicNetDisabled = "disabled"
)

// ContainerName is the name of the function's container in its Pod.
const ContainerName = "function"

// PodPrefix starts the name of every instance's Pod.
const PodPrefix = "scfd-"

// defaultCaps is the reduced capability set the local runtime gives
// (runc's and Docker's default), without the CAP_ prefix, less NET_RAW,
// which the Pod Security Standards' baseline level forbids.
var defaultCaps = []corev1.Capability{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD",
	"SETGID", "SETUID", "SETFCAP", "SETPCAP",
	"NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

// PodName is the Pod name of instance id: lower case, '_' as '-'.
func PodName(id string) string {
	return PodPrefix + strings.ReplaceAll(strings.ToLower(id), "_", "-")
}

// cpuMillis is an instance's CPU request: the local runtime's rule of one
// CPU share per MB of memory, in the millicores that give those shares
// (1024 shares are one CPU). No CPU limit is set: like shares, a request is
// work-conserving.
func cpuMillis(memoryMB int64) int64 {
	shares := max(memoryMB, 2)
	return max((shares*1000+1023)/1024, 1)
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue turns s into a valid label value: characters outside
// [A-Za-z0-9._-] become '-', the ends are trimmed to alphanumerics, and the
// result is cut at 63 characters.
func labelValue(s string) string {
	v := labelUnsafe.ReplaceAllString(s, "-")
	if len(v) > validation.LabelValueMaxLength {
		v = v[:validation.LabelValueMaxLength]
	}
	return strings.TrimFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
}

// numericUser parses "uid" or "uid:gid".
func numericUser(u string) (uid, gid *int64, ok bool) {
	us, gs, hasGroup := strings.Cut(u, ":")
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n < 0 {
		return nil, nil, false
	}
	uid = &n
	if hasGroup {
		g, err := strconv.ParseInt(gs, 10, 64)
		if err != nil || g < 0 {
			return nil, nil, false
		}
		gid = &g
	}
	return uid, gid, true
}

// podFor builds the Pod of one instance.
//
//   - The image is spec.ImageRef, by digest, pulled only if the node lacks
//     it, with the pull secret when there is one.
//   - The container's command is the whole argv of sandbox.Argv (Command
//     and Args already applied over the image's Entrypoint and Cmd), its
//     environment sandbox.Environ, its working directory the image's.
//   - A numeric image user becomes runAsUser/runAsGroup; a user name is
//     left to the container runtime, which resolves it in the image.
//   - Memory request and limit are MemoryMB; the CPU request follows
//     cpuMillis; ephemeral storage is limited to scf.WritableLayerBytes.
//   - The security context drops every capability but the local runtime's
//     default set, forbids privilege escalation and applies the runtime's
//     default seccomp profile. No service account token is mounted and no
//     service variables are injected.
//   - The Pod never restarts: an exit ends the instance, as locally.
func podFor(spec sandbox.Spec, acct sandbox.Account, namespace, pullSecret string) (*corev1.Pod, error) {
	if spec.ImageRef == "" || !strings.Contains(spec.ImageRef, "@sha256:") {
		return nil, errdefs.Invalid("Image", "instance %s: image reference %q is not by digest", spec.ID, spec.ImageRef)
	}
	argv, err := sandbox.Argv(spec)
	if err != nil {
		return nil, err
	}
	port := spec.Port
	if port == 0 {
		port = scf.DefaultPort
	}
	version := spec.Version
	if version == "" {
		version = scf.Latest
	}
	var env []corev1.EnvVar
	for _, kv := range sandbox.Environ(spec, acct) {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	mem := resource.NewQuantity(spec.MemoryMB<<20, resource.BinarySI)
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		Privileged:               new(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: defaultCaps},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if uid, gid, ok := numericUser(spec.Image.User); ok {
		sc.RunAsUser, sc.RunAsGroup = uid, gid
	}
	hostname := strings.ToLower(spec.ID)
	if len(validation.IsDNS1123Label(hostname)) > 0 {
		hostname = strings.TrimPrefix(PodName(spec.ID), PodPrefix)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(spec.ID),
			Namespace: namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedBy,
				LabelNamespace: labelValue(spec.Namespace),
				LabelFunction:  labelValue(spec.Function),
				LabelVersion:   labelValue(version),
				LabelInstance:  labelValue(spec.ID),
			},
			Annotations: map[string]string{
				LabelNamespace: spec.Namespace,
				LabelFunction:  spec.Function,
				LabelVersion:   version,
				LabelInstance:  spec.ID,
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			Hostname:                      hostname,
			DNSPolicy:                     corev1.DNSDefault,
			EnableServiceLinks:            new(false),
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           spec.ImageRef,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         argv,
				Env:             env,
				WorkingDir:      spec.Image.WorkingDir,
				Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceMemory: *mem,
						corev1.ResourceCPU:    *resource.NewMilliQuantity(cpuMillis(spec.MemoryMB), resource.DecimalSI),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceMemory:           *mem,
						corev1.ResourceEphemeralStorage: *resource.NewQuantity(scf.WritableLayerBytes, resource.BinarySI),
					},
				},
				SecurityContext:          sc,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
	if spec.NoPublicNet {
		pod.Labels[LabelPublicNet] = PublicNetDisabled
	}
	if pullSecret != "" {
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: pullSecret}}
	}
	return pod, nil
}
