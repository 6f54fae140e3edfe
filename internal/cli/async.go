package cli

import (
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

// asyncCmd is `scfd async`: the events of the asynchronous queue.
func (a *app) asyncCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "async", Short: "Inspect and retry asynchronous invocations"}
	var ns, fn string
	var dead bool
	var limit int64
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List asynchronous events, newest first (--dead: the dead letters)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := api.ListAsyncEventsRequest{Namespace: ns, FunctionName: fn, Limit: limit}
			if dead {
				req.Status = []string{"FAILED"}
			}
			var resp api.ListAsyncEventsResponse
			return a.call(cmd, "ListAsyncEvents", req, &resp, func(w *tabwriter.Writer) {
				row(w, "REQUEST ID", "FUNCTION", "QUALIFIER", "TYPE", "STATUS", "CODE", "ATTEMPTS", "STARTED", "ENDED", "ERROR")
				for _, e := range resp.EventList {
					row(w, e.InvokeRequestId, e.Namespace+"/"+e.FunctionName, e.Qualifier, e.InvokeType, e.Status,
						strconv.FormatInt(e.StatusCode, 10), strconv.FormatInt(e.Attempts, 10), e.StartTime, e.EndTime, e.ErrMsg)
				}
			})
		},
	}
	f := ls.Flags()
	f.StringVarP(&ns, "namespace", "n", "", "namespace (default: default)")
	a.completeNamespaceFlag(ls, "namespace")
	f.StringVarP(&fn, "function", "f", "", "only this function's events")
	f.BoolVar(&dead, "dead", false, "only the dead letters (events that ran out of attempts)")
	f.Int64Var(&limit, "limit", 100, "at most this many events")

	retry := &cobra.Command{
		Use: "retry REQUEST-ID", Short: "Queue an ended event (a dead letter) again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "RetryAsyncEvent", api.RetryAsyncEventRequest{InvokeRequestId: args[0]}, &resp, nil)
		},
	}
	var tns, tfn string
	terminate := &cobra.Command{
		Use: "terminate REQUEST-ID", Aliases: []string{"kill"}, Short: "Abort a waiting or running event", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "TerminateAsyncEvent", api.TerminateAsyncEventRequest{Namespace: tns, FunctionName: tfn, InvokeRequestId: args[0]}, &resp, nil)
		},
	}
	terminate.Flags().StringVarP(&tns, "namespace", "n", "", "namespace (default: default)")
	a.completeNamespaceFlag(terminate, "namespace")
	terminate.Flags().StringVarP(&tfn, "function", "f", "", "the event's function (required)")
	terminate.MarkFlagRequired("function")
	status := &cobra.Command{
		Use: "status REQUEST-ID", Short: "Show an asynchronous event's status", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.GetAsyncEventStatusResponse
			return a.call(cmd, "GetAsyncEventStatus", api.GetAsyncEventStatusRequest{InvokeRequestId: args[0]}, &resp, func(w *tabwriter.Writer) {
				row(w, "REQUEST ID", "STATUS", "CODE")
				row(w, resp.Result.InvokeRequestId, resp.Result.Status, resp.Result.StatusCode)
			})
		},
	}
	cmd.AddCommand(ls, retry, terminate, status, a.asyncConfigCmd())
	return cmd
}

// asyncConfigCmd is `scfd async config`: a function's retry policy
// (GetFunctionEventInvokeConfig, UpdateFunctionEventInvokeConfig).
func (a *app) asyncConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "A function's retry policy for asynchronous events"}
	var ns string
	get := &cobra.Command{
		Use: "get FUNCTION", Short: "Show a function's retry policy", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.GetFunctionEventInvokeConfigResponse
			return a.call(cmd, "GetFunctionEventInvokeConfig", api.GetFunctionEventInvokeConfigRequest{FunctionName: args[0], Namespace: ns}, &resp, func(w *tabwriter.Writer) {
				c := resp.AsyncTriggerConfig
				row(w, "RETRIES", "INTERVAL (S)", "MAX AGE (S)")
				for _, r := range c.RetryConfig {
					row(w, r.RetryNum, r.RetryInterval, c.MsgTTL)
				}
			})
		},
	}
	a.nsFlag(get, &ns)
	var retries, interval, maxAge int64
	put := &cobra.Command{
		Use: "put FUNCTION", Short: "Set a function's retry policy", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := &api.AsyncTriggerConfig{RetryConfig: []api.RetryConfig{{RetryNum: retries, RetryInterval: interval}}, MsgTTL: maxAge}
			return a.call(cmd, "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{FunctionName: args[0], Namespace: ns, AsyncTriggerConfig: cfg}, &ok{}, nil)
		},
	}
	a.nsFlag(put, &ns)
	put.Flags().Int64Var(&retries, "retries", 2, "retries of a failed event, 0 to 2")
	put.Flags().Int64Var(&interval, "interval", 60, "seconds between retries")
	put.Flags().Int64Var(&maxAge, "max-age", 21600, "seconds an event may wait, 60 to 86400")
	cmd.AddCommand(get, put)
	return cmd
}
