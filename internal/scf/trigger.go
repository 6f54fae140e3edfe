package scf

import (
	"regexp"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// Trigger types scfd runs.
const (
	TriggerTimer = "timer" // fires on a cron schedule, asynchronously
	TriggerAPIGW = "apigw" // an HTTP endpoint on the gateway for an event function
	TriggerHTTP  = "http"  // a function URL on the gateway, for either type of function
)

// Trigger invokes a function version without a caller.
type Trigger struct {
	Namespace      string    // required, immutable
	Function       string    // required, immutable
	Name           string    // required, immutable; see ValidateTriggerName
	Type           string    // TriggerTimer, TriggerAPIGW or TriggerHTTP; immutable
	Qualifier      string    // version or alias that runs; default $LATEST
	Desc           string    // timer: the cron expression; apigw: the endpoint, set by scfd; http: FunctionURLDesc as JSON
	CustomArgument string    // timer: the event's Message, at most 4 KB
	Description    string    // free text
	Enabled        bool      // a disabled trigger never fires
	AddTime        time.Time // set by the store
	ModTime        time.Time // set by the store
}

// TriggerState is what scfd knows of a trigger beyond its settings.
type TriggerState struct {
	// Available is false when the trigger's qualifier cannot run: an
	// alias or version that does not exist or is not Active, or a timer
	// on an HTTP function. Reason says why.
	Available bool
	Reason    string
	LastRun   time.Time // a timer's last fire time; zero: never fired
	LastError string    // why the last fire did not run; empty when it did
	NextRun   time.Time // a timer's next fire time; zero: disabled or never
}

// MaxCustomArgument bounds a timer's Message.
const MaxCustomArgument = 4 << 10

var triggerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,59}$`)

// ValidateTriggerName checks SCF's rule: up to 60 letters, digits, '-'
// and '_', starting with a letter.
func ValidateTriggerName(name string) error {
	if name == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "TriggerName", "TriggerName is required")
	}
	if !triggerName.MatchString(name) {
		return errdefs.Invalid("TriggerName", "TriggerName %q is invalid: use up to 60 letters, digits, '-' and '_', starting with a letter", name)
	}
	return nil
}
