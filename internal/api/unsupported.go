package api

import (
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
)

// FunctionExtras are the fields of CreateFunction and
// UpdateFunctionConfiguration that name Tencent Cloud services scfd does
// not have (VPCs, CAM roles, CLS, layers, CMQ dead letters, CFS, tracing,
// fixed intranet IPs). Nothing is silently dropped: their default values
// (absent, empty, "FALSE", "DISABLE") are accepted, and GetFunction
// reports those defaults; any other value is refused with
// UnsupportedOperation.<Field> (see refuseExtras).
type FunctionExtras struct {
	VpcConfig        *VpcConfig         `json:",omitempty"`
	Role             string             `json:",omitempty"`
	ClsLogsetId      string             `json:",omitempty"`
	ClsTopicId       string             `json:",omitempty"`
	Layers           []LayerVersionInfo `json:",omitempty"`
	DeadLetterConfig *DeadLetterConfig  `json:",omitempty"`
	CfsConfig        *CfsConfig         `json:",omitempty"`
	TraceEnable      string             `json:",omitempty"` // "FALSE" or empty
	IntranetConfig   *IntranetConfigIn  `json:",omitempty"`
}

// IntranetConfigIn is the IntranetConfig of a request; IpFixed "ENABLE"
// is refused.
type IntranetConfigIn struct {
	IpFixed string
}

// SessionConfig is InstanceConcurrencyConfig's session-based concurrency;
// scfd's is request-based, so a non-empty one is refused.
type SessionConfig struct {
	SessionSource                        string `json:",omitempty"`
	SessionName                          string `json:",omitempty"`
	MaximumConcurrencySessionPerInstance int64  `json:",omitempty"`
	MaximumTTLInSeconds                  int64  `json:",omitempty"`
	MaximumIdleTimeInSeconds             int64  `json:",omitempty"`
	SessionPath                          string `json:",omitempty"`
	IdleTimeoutStrategy                  string `json:",omitempty"`
}

// refuseExtras answers UnsupportedOperation.<Field> for the first field
// of e set to other than its default.
func refuseExtras(e FunctionExtras) error {
	no := func(field, why string) error {
		return errdefs.New(errdefs.ErrUnsupported, field, "%s is not supported: %s; leave it out", field, why)
	}
	switch {
	case e.VpcConfig != nil && (e.VpcConfig.VpcId != "" || e.VpcConfig.SubnetId != ""):
		return no("VpcConfig", "scfd has no VPCs, functions reach the network through the host")
	case e.Role != "":
		return no("Role", "scfd has no CAM roles; functions get temporary keys for their own namespace")
	case e.ClsLogsetId != "":
		return no("ClsLogsetId", "logs are kept by scfd (GetFunctionLogs), not shipped to CLS")
	case e.ClsTopicId != "":
		return no("ClsTopicId", "logs are kept by scfd (GetFunctionLogs), not shipped to CLS")
	case len(e.Layers) > 0:
		return no("Layers", "layers are for code packages; put the files in the image")
	case e.DeadLetterConfig != nil && (e.DeadLetterConfig.Type != "" || e.DeadLetterConfig.Name != ""):
		return no("DeadLetterConfig", "scfd keeps failed asynchronous events itself (ListAsyncEvents, RetryAsyncEvent)")
	case e.CfsConfig != nil && len(e.CfsConfig.CfsInsList) > 0:
		return no("CfsConfig", "scfd has no CFS file systems")
	case e.TraceEnable != "" && !strings.EqualFold(e.TraceEnable, "FALSE"):
		return no("TraceEnable", "scfd has no tracing service")
	case e.IntranetConfig != nil && e.IntranetConfig.IpFixed != "" && !strings.EqualFold(e.IntranetConfig.IpFixed, "DISABLE"):
		return no("IntranetConfig", "scfd has no fixed intranet addresses")
	}
	return nil
}

// refuseConcurrencyExtras refuses what InstanceConcurrencyConfig holds
// beyond scfd's request-based concurrency.
func refuseConcurrencyExtras(c *InstanceConcurrencyConfig) error {
	if c == nil {
		return nil
	}
	no := func(field, why string) error {
		return errdefs.New(errdefs.ErrUnsupported, field, "InstanceConcurrencyConfig.%s is not supported: %s; leave it out", field, why)
	}
	switch {
	case c.Type != "" && c.Type != "Request-Based":
		return no("InstanceConcurrencyConfig.Type", "instances share requests (Request-Based), not sessions")
	case c.SessionConfig != nil && *c.SessionConfig != (SessionConfig{}):
		return no("SessionConfig", "instances share requests (Request-Based), not sessions")
	case c.InstanceIsolationEnabled != "" && !strings.EqualFold(c.InstanceIsolationEnabled, "FALSE"):
		return no("InstanceIsolationEnabled", "each instance is its own container already; there is no finer isolation")
	case len(c.MixNodeConfig) > 0:
		return no("MixNodeConfig", "dynamic concurrency is not supported")
	}
	return nil
}
