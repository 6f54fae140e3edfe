package scf

import (
	"regexp"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
)

// Limits of SCF's API that scfd enforces.
const (
	MinMemoryMB     = 64
	MaxMemoryMB     = 3072
	DefaultMemoryMB = 128
	MinTimeout      = 1
	MaxTimeout      = 900
	DefaultTimeout  = 3
	// DefaultInitTimeout is SCF's default for image-deployed functions.
	DefaultInitTimeout = 90
	MaxEnvBytes        = 4 << 10
	MaxDescription     = 1000
	MaxConcurrency     = 100
	// MaxAsyncRunTimeout is the Timeout limit of an AsyncRun function
	// (24 h).
	MaxAsyncRunTimeout = 86400
	// DefaultWSIdleTimeout and MaxWSIdleTimeout bound WSParams.IdleTimeOut
	// (seconds).
	DefaultWSIdleTimeout = 15
	MaxWSIdleTimeout     = 1800
)

var (
	functionName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{1,59}$`)
	namespaceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$`)
	envKey        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidateFunctionName checks SCF's rule: letters, digits, '-' and '_',
// starting with a letter, 2 to 60 characters, not ending with '-' or '_'.
func ValidateFunctionName(name string) error {
	if name == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "FunctionName", "FunctionName is required")
	}
	if !functionName.MatchString(name) || name[len(name)-1] == '-' || name[len(name)-1] == '_' {
		return errdefs.Invalid("FunctionName", "FunctionName %q is invalid: use 2 to 60 letters, digits, '-' and '_', starting with a letter and ending with a letter or digit", name)
	}
	return nil
}

// ValidateNamespaceName checks SCF's rule for namespaces: letters, digits,
// '-' and '_', 1 to 30 characters, not starting with '-' or '_'.
func ValidateNamespaceName(name string) error {
	if name == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "Namespace", "Namespace is required")
	}
	if !namespaceName.MatchString(name) {
		return errdefs.Invalid("Namespace", "Namespace %q is invalid: use 1 to 30 letters, digits, '-' and '_', starting with a letter or digit", name)
	}
	return nil
}

// ValidateMemorySize checks 64, or 128 to 3072 in steps of 128 (MB).
func ValidateMemorySize(mb int64) error {
	if mb == MinMemoryMB || (mb >= 128 && mb <= MaxMemoryMB && mb%128 == 0) {
		return nil
	}
	return errdefs.Invalid("MemorySize", "MemorySize %d is invalid: use 64, or 128 to 3072 in steps of 128 (MB)", mb)
}

// ValidateTimeout checks 1 to 900 seconds.
func ValidateTimeout(s int64) error {
	if s < MinTimeout || s > MaxTimeout {
		return errdefs.Invalid("Timeout", "Timeout %d is invalid: use 1 to 900 seconds", s)
	}
	return nil
}

// ValidateEnvironment checks variable names, duplicates, values (no NUL:
// a process environment cannot hold one, so the function could not start)
// and the 4 KB limit.
func ValidateEnvironment(vars []Variable) error {
	size := 0
	seen := make(map[string]bool, len(vars))
	for _, v := range vars {
		if !envKey.MatchString(v.Key) {
			return errdefs.Invalid("Environment", "environment variable name %q is invalid: use letters, digits and '_', not starting with a digit", v.Key)
		}
		if seen[v.Key] {
			return errdefs.Invalid("Environment", "environment variable %q is set twice", v.Key)
		}
		if strings.IndexByte(v.Value, 0) >= 0 {
			return errdefs.Invalid("Environment", "the value of environment variable %q contains a NUL character, which no process environment can hold", v.Key)
		}
		seen[v.Key] = true
		size += len(v.Key) + len(v.Value)
	}
	if size > MaxEnvBytes {
		return errdefs.Invalid("Environment", "environment variables take %d bytes together; at most %d are allowed", size, MaxEnvBytes)
	}
	return nil
}

// ValidateFunction checks every field of a function that is about to be
// stored, after defaults have been applied.
func ValidateFunction(f *Function) error {
	if err := ValidateNamespaceName(f.Namespace); err != nil {
		return err
	}
	if err := ValidateFunctionName(f.Name); err != nil {
		return err
	}
	if f.Type != TypeEvent && f.Type != TypeHTTP {
		return errdefs.Invalid("Type", "Type %q is invalid: use Event or HTTP", f.Type)
	}
	if err := ValidateMemorySize(f.MemorySize); err != nil {
		return err
	}
	if f.AsyncRun {
		if f.Timeout < MinTimeout || f.Timeout > MaxAsyncRunTimeout {
			return errdefs.Invalid("Timeout", "Timeout %d is invalid: use 1 to %d seconds for a function with AsyncRunEnable", f.Timeout, MaxAsyncRunTimeout)
		}
	} else if err := ValidateTimeout(f.Timeout); err != nil {
		return err
	}
	switch f.Protocol.Type {
	case "":
		if f.Protocol.WSIdleTimeout != 0 {
			return errdefs.Invalid("ProtocolParams", "ProtocolParams.WSParams is only for functions with ProtocolType WS")
		}
	case ProtocolWS:
		if f.Type != TypeHTTP {
			return errdefs.Invalid("ProtocolType", "ProtocolType WS is only for HTTP functions")
		}
		if t := f.Protocol.WSIdleTimeout; t < 0 || t > MaxWSIdleTimeout {
			return errdefs.Invalid("ProtocolParams", "WSParams.IdleTimeOut %d is invalid: use 1 to %d seconds", t, MaxWSIdleTimeout)
		}
	default:
		return errdefs.Invalid("ProtocolType", "ProtocolType %q is invalid: use WS, for HTTP functions", f.Protocol.Type)
	}
	if f.AsyncRun && f.Type != TypeEvent {
		return errdefs.Invalid("AsyncRunEnable", "AsyncRunEnable is only for Event functions")
	}
	if f.DNSCache && f.Type != TypeEvent {
		return errdefs.Invalid("DnsCache", "DnsCache is only for Event functions")
	}
	if f.InitTimeout < 0 || f.InitTimeout > MaxTimeout {
		return errdefs.Invalid("InitTimeout", "InitTimeout %d is invalid: use 1 to 900 seconds", f.InitTimeout)
	}
	if len(f.Description) > MaxDescription {
		return errdefs.Invalid("Description", "Description is longer than %d characters", MaxDescription)
	}
	if err := ValidateEnvironment(f.Environment); err != nil {
		return err
	}
	if f.Image.ImageUri == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "ImageUri", "Code.ImageConfig.ImageUri is required")
	}
	if f.Image.ImagePort == -1 {
		return errdefs.New(errdefs.ErrUnsupported, "ImagePort", "ImagePort -1 (job images without an HTTP server) is not supported yet")
	}
	if f.Image.ImagePort < -1 || f.Image.ImagePort > 65535 {
		return errdefs.Invalid("ImagePort", "ImagePort %d is invalid: use 0 (port 9000) or 1 to 65535", f.Image.ImagePort)
	}
	if c := f.Concurrency.MaxConcurrency; c < 0 || c > MaxConcurrency {
		return errdefs.Invalid("InstanceConcurrencyConfig", "MaxConcurrency %d is invalid: use 1 to %d", c, MaxConcurrency)
	}
	if f.Concurrency.MaxConcurrency > 1 && f.Type != TypeHTTP {
		return errdefs.Invalid("InstanceConcurrencyConfig", "MaxConcurrency above 1 is only for HTTP functions")
	}
	return nil
}

// ApplyDefaults fills the zero fields of a new function with SCF's defaults.
func ApplyDefaults(f *Function) {
	if f.Namespace == "" {
		f.Namespace = DefaultNamespace
	}
	if f.Version == "" {
		f.Version = Latest
	}
	if f.Type == "" {
		f.Type = TypeEvent
	}
	if f.MemorySize == 0 {
		f.MemorySize = DefaultMemoryMB
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultTimeout
	}
	if f.InitTimeout == 0 {
		f.InitTimeout = DefaultInitTimeout
	}
	if f.Image.ImageType == "" {
		f.Image.ImageType = "personal"
	}
	if f.Concurrency.DynamicEnabled == "" {
		f.Concurrency.DynamicEnabled = "FALSE"
	}
}
