package cli

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/client"
)

// hinted is an error with what to do about it.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + ": " + h.hint }
func (h *hinted) Unwrap() error { return h.err }

// explain adds to err what the person at the terminal can do next, when
// its class says so: an SCF error code, or a server that is not there.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var h *hinted
	if errors.As(err, &h) {
		return err
	}
	if hint := tlsHint(err); hint != "" {
		return &hinted{err, hint}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return &hinted{err, "is `scfd serve` running there? (--endpoint, SCFD_ENDPOINT or SCFD_API_ADDR name it)"}
	}
	var e *client.APIError
	if !errors.As(err, &e) {
		return err
	}
	class, resource, _ := strings.Cut(e.Code, ".")
	hint := ""
	switch class {
	case "AuthFailure", "UnauthorizedOperation":
		hint = "check the key (--secret-id and --secret-key, or SCFD_SECRET_ID and SCFD_SECRET_KEY; by default the local server's administrator key in its data dir)"
	case "ResourceNotFound":
		switch resource {
		case "Namespace":
			hint = "`scfd ns ls` lists the namespaces, `scfd ns create NAME` creates one"
		case "Function", "FunctionName":
			hint = "`scfd fn ls -n NAMESPACE` lists the functions, `scfd deploy` creates one"
		case "Version", "FunctionVersion":
			hint = "`scfd version ls FUNCTION` lists the versions"
		case "Qualifier":
			hint = "`scfd version ls FUNCTION` and `scfd alias ls FUNCTION` list the versions and aliases"
		case "Alias":
			hint = "`scfd alias ls FUNCTION` lists the aliases"
		case "Trigger":
			hint = "`scfd trigger ls FUNCTION` lists the triggers"
		}
	case "ResourceInUse":
		switch resource {
		case "Function":
			hint = "it exists: change it with `scfd fn update` or `scfd deploy`"
		case "Namespace":
			hint = "delete its functions first (`scfd fn ls -n NAMESPACE`), or use it as it is"
		}
	case "FailedOperation", "ResourceUnavailable":
		hint = "`scfd fn get FUNCTION` shows the function's status and why"
	case "UnsupportedOperation":
		hint = "see \"Where scfd differs from SCF\" in scfd's README"
		if resource == "AliasBind" {
			hint = "`scfd alias ls FUNCTION` shows the aliases: point the one that uses it at another version first"
		}
	case "LimitExceeded":
		hint = "`scfd account` shows the account's quotas"
	}
	if hint == "" {
		return err
	}
	return &hinted{err, hint}
}

// explainAll makes every command of the tree under c answer with
// explained errors.
func explainAll(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return explain(run(cmd, args)) }
	}
	for _, sub := range c.Commands() {
		explainAll(sub)
	}
}

// oneLine joins the lines of err's message, so that every failure is one
// line on the terminal.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	var kept []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, " | ")
}

// errorf is fmt.Errorf with a hint of what to do next.
func errorf(hint, format string, args ...any) error {
	return &hinted{fmt.Errorf(format, args...), hint}
}
