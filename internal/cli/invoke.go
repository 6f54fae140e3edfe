package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

func (a *app) invokeCmd() *cobra.Command {
	var namespace, event, qualifier string
	var async bool
	cmd := &cobra.Command{
		Use:   "invoke NAME [--event JSON|@FILE]",
		Short: "Invoke an event function and print its answer and the tail of its log",
		Long: "Invoke runs the function once (Invoke, LogType Tail) and prints its answer, then the last 4 KB of\n" +
			"the invocation's log. A failed invocation prints SCF's error and exits with status 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ev, err := readEvent(event)
			if err != nil {
				return err
			}
			req := api.InvokeRequest{FunctionName: args[0], Namespace: namespace, Qualifier: qualifier, ClientContext: ev, LogType: "Tail"}
			if async {
				req.InvocationType, req.LogType = "Event", ""
			}
			var resp api.InvokeResponse
			var failed error
			err = a.call(cmd, "Invoke", req, &resp, nil)
			if err != nil {
				return err
			}
			r := resp.Result
			if r.InvokeResult != 0 {
				failed = fmt.Errorf("the invocation %s failed with status %d", r.FunctionRequestId, r.InvokeResult)
			}
			if a.output == "json" {
				return failed
			}
			if async {
				fmt.Fprintf(a.out, "queued: %s\n", r.FunctionRequestId)
				return nil
			}
			if r.InvokeResult != 0 {
				fmt.Fprintf(a.out, "error (%d): %s\n", r.InvokeResult, r.ErrMsg)
			} else {
				fmt.Fprintln(a.out, strings.TrimSuffix(r.RetMsg, "\n"))
			}
			fmt.Fprintf(a.out, "\n--- log (RequestId %s, %.3f ms, billed %d ms, %.2f MB) ---\n%s",
				r.FunctionRequestId, r.Duration, r.BillDuration, float64(r.MemUsage)/(1<<20), r.Log)
			return failed
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace")
	a.completeNamespaceFlag(cmd, "namespace")
	cmd.ValidArgsFunction = a.completeFunction
	f.StringVarP(&event, "event", "e", "{}", "the event: JSON, or @FILE to read it from a file (@- for stdin)")
	f.StringVarP(&qualifier, "qualifier", "q", "", "version to run (default $LATEST)")
	f.BoolVar(&async, "async", false, "queue the event (InvocationType Event) instead of waiting for the answer")
	return cmd
}

// readEvent returns the event of --event: the text itself, or the
// contents of the file after '@' ("-" is stdin).
func readEvent(v string) (string, error) {
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("--event: %w", err)
	}
	return string(b), nil
}
