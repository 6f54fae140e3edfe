// Package scf holds scfd's domain types: namespaces, functions and their
// image configuration, with the validation rules Tencent Cloud SCF applies
// to them.
//
// It is a leaf package: it imports only the standard library, errdefs
// and shlex (SCF's rule for splitting Command and Args, see
// SplitCommand), and every other package speaks in its types. Values are validated once,
// where they enter (the API, the CLI), with the Validate* functions here;
// after that a Name is safe to use as a file or cgroup name.
package scf

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fixed names and numbers of the SCF contract.
const (
	// DefaultNamespace always exists and cannot be deleted.
	DefaultNamespace = "default"
	// Latest is the editable version of every function.
	Latest = "$LATEST"
	// DefaultAlias is the alias InvokeFunction uses when none is named.
	DefaultAlias = "$DEFAULT"
	// DefaultPort is where a function image's HTTP server listens.
	DefaultPort = 9000
	// StartupTimeout bounds the start-up check of an instance.
	StartupTimeout = 30 * time.Second
	// StartupTimeoutMessage is SCF's exact text when the check fails, for
	// a server on the default port (see StartupTimeoutText).
	StartupTimeoutMessage = "The request timed out in 30000ms.Please confirm your http server have enabled listening on port 9000."
	// WritableLayerBytes is the size of an instance's writable layer.
	WritableLayerBytes = 512 << 20
	// MaxImageBytes is the largest image (config plus compressed layers)
	// SCF accepts; an image must be below it.
	MaxImageBytes = 1 << 30
)

// Namespace groups functions.
type Namespace struct {
	Name        string    // required, immutable; see ValidateNamespaceName
	Description string    // mutable; may be empty
	Type        string    // "default" for the built-in namespace, else "custom"
	AddTime     time.Time // set by the store
	ModTime     time.Time // set by the store
}

// FunctionType says how a function is invoked.
type FunctionType string

// The function types.
const (
	TypeEvent FunctionType = "Event" // invoked through /event-invoke
	TypeHTTP  FunctionType = "HTTP"  // a web function behind the gateway
)

// Status is a function's lifecycle state as SCF reports it.
type Status string

// The statuses a function moves through.
const (
	StatusCreating     Status = "Creating"
	StatusCreateFailed Status = "CreateFailed"
	StatusActive       Status = "Active"
	StatusUpdating     Status = "Updating"
	StatusUpdateFailed Status = "UpdateFailed"
	StatusDeleting     Status = "Deleting"
)

// StatusReason explains a failed status, or carries a warning.
type StatusReason struct {
	ErrorCode    string
	ErrorMessage string
}

// ImageConfig is SCF's Code.ImageConfig: which image runs and how.
type ImageConfig struct {
	ImageType                string // "personal" or "enterprise"; informational here
	ImageUri                 string // required: host[:port]/repo[:tag][@sha256:...]
	RegistryId               string // informational here
	Command                  string // replaces the image's Entrypoint when set (see SplitCommand)
	Args                     string // replaces the image's Cmd when set (see SplitCommand); empty keeps the image's
	ImagePort                int64  // 0 means 9000; -1 is a job image (unsupported)
	ContainerImageAccelerate bool   // accepted and ignored: images are always local
}

// StartupTimeoutText is SCF's message when a server does not listen on
// port within the start-up check: StartupTimeoutMessage, naming port
// instead of 9000.
func StartupTimeoutText(port int) string {
	return strings.Replace(StartupTimeoutMessage, "port 9000.", "port "+strconv.Itoa(port)+".", 1)
}

// Port is the TCP port the image's server listens on.
func (c ImageConfig) Port() int {
	if c.ImagePort <= 0 {
		return DefaultPort
	}
	return int(c.ImagePort)
}

// Variable is one environment variable of a function.
type Variable struct {
	Key   string
	Value string
}

// Tag is one key/value tag of a function.
type Tag struct {
	Key   string
	Value string
}

// InstanceConcurrency is SCF's InstanceConcurrencyConfig.
type InstanceConcurrency struct {
	DynamicEnabled string // "TRUE" or "FALSE"; only "FALSE" is honoured
	MaxConcurrency int64  // requests one HTTP-function instance takes at once; 0 means 1
}

// ProtocolWS is the ProtocolType of an HTTP function that takes
// WebSocket sessions.
const ProtocolWS = "WS"

// Protocol is SCF's ProtocolType with its ProtocolParams.
type Protocol struct {
	Type string // "" (plain HTTP) or ProtocolWS
	// WSIdleTimeout is WSParams.IdleTimeOut in seconds: a WebSocket
	// session with no message either way for this long is closed. 0 means
	// DefaultWSIdleTimeout; at most MaxWSIdleTimeout.
	WSIdleTimeout int64
}

// IdleTimeout is the idle time after which a WebSocket session is closed.
func (p Protocol) IdleTimeout() time.Duration {
	if p.WSIdleTimeout <= 0 {
		return DefaultWSIdleTimeout * time.Second
	}
	return time.Duration(p.WSIdleTimeout) * time.Second
}

// Function is one version of a function: $LATEST, the editable one, or a
// published version.
type Function struct {
	Namespace   string       // required, immutable
	Name        string       // required, immutable; see ValidateFunctionName
	Version     string       // Latest, or "1", "2", ... for published versions
	FunctionID  string       // "lam-..." assigned by the store on create
	Type        FunctionType // immutable after create; default TypeEvent
	Description string       // mutable
	MemorySize  int64        // MB: 64, or 128..3072 in steps of 128; default 128
	Timeout     int64        // seconds, 1..900; default 3
	InitTimeout int64        // seconds; default 90 for image functions
	Environment []Variable   // at most 4 KB together
	Image       ImageConfig  // what runs
	Concurrency InstanceConcurrency
	Tags        []Tag

	// PublicNetDisabled is PublicNetConfig.PublicNetStatus "DISABLE":
	// the instances reach nothing beyond the host. Mutable; false is SCF's
	// default, "ENABLE".
	PublicNetDisabled bool
	// Protocol is ProtocolType and ProtocolParams of an HTTP function.
	// Type is set at create only; the idle timeout is mutable.
	Protocol Protocol
	// AsyncRun is AsyncRunEnable: every invocation is queued and answered
	// with its request id at once, may run up to MaxAsyncRunTimeout, and
	// is not retried when the function fails. Set at create only.
	AsyncRun bool
	// DNSCache is DnsCache (event functions only): accepted, stored and
	// shown; see the README for what it means on one machine. Mutable.
	DNSCache bool

	// ImageDigest pins the image: the manifest digest the ImageUri resolved
	// to when the code was last set. Empty while the image is being pulled.
	ImageDigest string
	// CodeRevision counts code updates, so a slow pull of an old revision
	// cannot overwrite the result of a newer one.
	CodeRevision int64
	// PublishOnActive asks for a version to be published when the
	// update in progress makes $LATEST Active (UpdateFunctionCode or
	// UpdateFunctionConfiguration with Publish TRUE); cleared when the
	// update ends, published or failed. Always false on published
	// versions.
	PublishOnActive bool `json:",omitempty"`
	// PullAccess is the rights of the key that set the code (created the
	// function or last updated its code): pulls of that code from scfd's
	// registry carry them, including one resumed after a restart.
	PullAccess Access `json:",omitzero"`

	Status        Status
	StatusDesc    string
	StatusReasons []StatusReason

	AddTime time.Time // set by the store
	ModTime time.Time // set by the store
}

// Clone returns a copy of f that shares nothing with it.
func (f *Function) Clone() *Function {
	c := *f
	c.Environment = slices.Clone(f.Environment)
	c.Tags = slices.Clone(f.Tags)
	c.StatusReasons = slices.Clone(f.StatusReasons)
	return &c
}

// Env returns the function's environment as a map.
func (f *Function) Env() map[string]string {
	m := make(map[string]string, len(f.Environment))
	for _, v := range f.Environment {
		m[v.Key] = v.Value
	}
	return m
}
