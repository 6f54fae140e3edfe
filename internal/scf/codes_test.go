package scf

import (
	"errors"
	"fmt"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
)

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
		ok   bool
	}{
		{"class and resource", errdefs.NotFound("Function", "no"), "ResourceNotFound.Function", true},
		{"class alone", errdefs.New(errdefs.ErrUnsupported, "", "no"), "UnsupportedOperation", true},
		{"wrapped", fmt.Errorf("ctx: %w", errdefs.Invalid("MemorySize", "no")), "InvalidParameterValue.MemorySize", true},
		{"limit", errdefs.New(errdefs.ErrResourceExhausted, "Timeout", "no"), "LimitExceeded.Timeout", true},
		{"missing parameter without its name", errdefs.New(errdefs.ErrMissingParameter, "Namespace", "no"), "MissingParameter", true},
		{"missing code", errdefs.New(errdefs.ErrMissingParameter, "Code", "no"), "MissingParameter.Code", true},
		{"unauthorized", errdefs.New(errdefs.ErrUnauthorized, "", "no"), "UnauthorizedOperation", true},
		{"CAM", errdefs.New(errdefs.ErrUnauthorized, "CAM", "no"), "UnauthorizedOperation.CAM", true},
		{"request too large", errdefs.Invalid("RequestTooLarge", "no"), "InvalidParameter.RequestTooLarge", true},
		{"alias bind", errdefs.New(errdefs.ErrInUse, "AliasBind", "no"), "UnsupportedOperation.AliasBind", true},
		{"in use", errdefs.New(errdefs.ErrInUse, "Namespace", "no"), "ResourceInUse.Namespace", true},
		{"no class", errors.New("boom"), "InternalError", false},
	} {
		got, ok := ErrorCode(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ErrorCode = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
