package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

func (a *app) logsCmd() *cobra.Command {
	var namespace, requestID, filter string
	var limit int64
	var follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "logs NAME [--request-id ID] [-f]",
		Short: "Show a function's invocation logs (GetFunctionLogs), oldest first",
		Long: "Logs prints the logs of the function's last invocations in the last day, oldest first, or of one\n" +
			"invocation with --request-id. With -f it keeps printing new invocations until interrupted.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.GetFunctionLogsRequest{
				FunctionName: args[0], Namespace: namespace, FunctionRequestId: requestID, Limit: limit, Order: "desc",
			}
			if filter != "" {
				req.Filter = &api.LogFilter{RetCode: filter}
			}
			var resp api.GetFunctionLogsResponse
			if err := a.call(cmd, "GetFunctionLogs", req, &resp, nil); err != nil {
				return err
			}
			seen := map[string]bool{}
			print := func(data []api.FunctionLog) {
				if a.output == "json" {
					return
				}
				for i := len(data) - 1; i >= 0; i-- { // newest first on the wire
					d := data[i]
					if seen[d.RequestId] {
						continue
					}
					seen[d.RequestId] = true
					fmt.Fprintf(a.out, "%s RetCode:%d\n%s", d.StartTime, d.RetCode, d.Log)
				}
			}
			print(resp.Data)
			if !follow {
				return nil
			}
			out := a.output
			a.output = "table" // polls print entries, not the API's JSON
			defer func() { a.output = out }()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-cmd.Context().Done():
					return nil
				case <-t.C:
				}
				req.Offset, req.Limit = 0, 100
				if err := a.call(cmd, "GetFunctionLogs", req, &resp, nil); err != nil {
					return err
				}
				print(resp.Data)
			}
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace")
	a.completeNamespaceFlag(cmd, "namespace")
	cmd.ValidArgsFunction = a.completeFunction
	f.StringVar(&requestID, "request-id", "", "only the invocation with this request id")
	f.StringVar(&filter, "filter", "", "only these results: is0, not0, TimeLimitExceeded, ResourceLimitExceeded, UserCodeException")
	f.Int64Var(&limit, "limit", 20, "how many invocations to show at first")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new invocations")
	f.DurationVar(&interval, "interval", time.Second, "how often -f asks for new invocations")
	return cmd
}
