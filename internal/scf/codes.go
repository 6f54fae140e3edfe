package scf

import (
	"errors"

	"github.com/scfd/scfd/internal/errdefs"
)

// The one table from scfd's error classes to SCF's error codes. The API
// answers with it and the deployer writes it into StatusReasons; nothing
// else turns an error into a code.
//
// An error's code is its class's prefix and, when the error names a
// resource, "." and that resource: errdefs.NotFound("Function", ...) is
// ResourceNotFound.Function. The resource is chosen where the error is
// raised so that the code is the one SCF documents for that case in its
// per-action error lists (tencentcloud-sdk-go scf/v20180416 client.go):
// ResourceNotFound.Qualifier for an unknown qualifier on invoke,
// LimitExceeded.Timeout (class ErrResourceExhausted) for a Timeout out of
// range. MissingParameter and UnauthorizedOperation go without the
// resource, as SCF answers them, but for the cases in codeExceptions,
// which also lists the few SCF codes whose prefix is not their class's.
var classPrefixes = []struct {
	class  error
	prefix string
	noSub  bool // the code is the prefix alone, whatever the resource
}{
	{errdefs.ErrNotFound, "ResourceNotFound", false},
	{errdefs.ErrAlreadyExists, "ResourceInUse", false},
	{errdefs.ErrInUse, "ResourceInUse", false},
	{errdefs.ErrInvalidArgument, "InvalidParameterValue", false},
	{errdefs.ErrMissingParameter, "MissingParameter", true},
	{errdefs.ErrResourceExhausted, "LimitExceeded", false},
	{errdefs.ErrUnsupported, "UnsupportedOperation", false},
	{errdefs.ErrFailedPrecondition, "FailedOperation", false},
	{errdefs.ErrUnavailable, "ResourceUnavailable", false},
	{errdefs.ErrUnauthorized, "UnauthorizedOperation", true},
}

// codeKey is a class and a resource.
type codeKey struct {
	class    error
	resource string
}

// codeExceptions are SCF's codes whose prefix is not their class's.
var codeExceptions = map[codeKey]string{
	// An event over 6 MB (sync) or 128 KB (async): SCF's prefix is
	// InvalidParameter, not InvalidParameterValue.
	{errdefs.ErrInvalidArgument, "RequestTooLarge"}: "InvalidParameter.RequestTooLarge",
	// Deleting a version an alias routes to: "the resource still has
	// alias bindings, the operation is not supported".
	{errdefs.ErrInUse, "AliasBind"}: "UnsupportedOperation.AliasBind",
	// CreateFunction or UpdateFunctionCode without Code.ImageConfig.ImageUri.
	{errdefs.ErrMissingParameter, "Code"}: "MissingParameter.Code",
	// A key acting on a namespace it has no right to.
	{errdefs.ErrUnauthorized, "CAM"}: "UnauthorizedOperation.CAM",
}

// ErrorCode returns SCF's error code for err. ok is false when err is of
// no errdefs class: the caller answers InternalError.
func ErrorCode(err error) (code string, ok bool) {
	resource := errdefs.Resource(err)
	for _, c := range classPrefixes {
		if !errors.Is(err, c.class) {
			continue
		}
		if code, ok := codeExceptions[codeKey{c.class, resource}]; ok {
			return code, true
		}
		if resource == "" || c.noSub {
			return c.prefix, true
		}
		return c.prefix + "." + resource, true
	}
	return "InternalError", false
}
