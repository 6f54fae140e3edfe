package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

// concurrencyCmd is `scfd concurrency`: reserved quotas (in MB, as SCF
// counts), the account's total, and provisioned instances of versions.
func (a *app) concurrencyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "concurrency", Short: "Reserve concurrency for functions and provision instances of versions"}
	var ns string

	reserved := &cobra.Command{Use: "reserved", Short: "A function's reserved concurrency, in MB of instance memory (0 disables it)"}
	rput := &cobra.Command{
		Use: "put FUNCTION MB", Short: "Reserve MB of concurrency (instances × memory) for a function", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			mb, err := megabytes(args[1])
			if err != nil {
				return err
			}
			return a.call(cmd, "PutReservedConcurrencyConfig", api.PutReservedConcurrencyConfigRequest{FunctionName: args[0], Namespace: ns, ReservedConcurrencyMem: &mb}, &ok{}, nil)
		},
	}
	a.nsFlag(rput, &ns)
	rget := &cobra.Command{
		Use: "get FUNCTION", Short: "Show a function's reserved concurrency", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.GetReservedConcurrencyConfigResponse
			return a.call(cmd, "GetReservedConcurrencyConfig", api.FunctionRef{FunctionName: args[0], Namespace: ns}, &resp, func(w *tabwriter.Writer) {
				if resp.ReservedMem == nil {
					fmt.Fprintf(w, "%s/%s: none reserved (shares the account's unreserved quota)\n", ns, args[0])
				} else {
					fmt.Fprintf(w, "%s/%s: %d MB reserved\n", ns, args[0], *resp.ReservedMem)
				}
			})
		},
	}
	a.nsFlag(rget, &ns)
	rrm := &cobra.Command{
		Use: "rm FUNCTION", Aliases: []string{"delete"}, Short: "Remove a function's reservation", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, "DeleteReservedConcurrencyConfig", api.FunctionRef{FunctionName: args[0], Namespace: ns}, &ok{}, nil)
		},
	}
	a.nsFlag(rrm, &ns)
	reserved.AddCommand(rput, rget, rrm)

	provisioned := &cobra.Command{Use: "provisioned", Short: "Instances of a published version kept started"}
	pput := &cobra.Command{
		Use: "put FUNCTION VERSION N", Short: "Keep N instances of a published version started", Args: cobra.ExactArgs(3),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[2], 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("N %q: want a number of instances", args[2])
			}
			return a.call(cmd, "PutProvisionedConcurrencyConfig", api.PutProvisionedConcurrencyConfigRequest{
				FunctionName: args[0], Namespace: ns, Qualifier: args[1], VersionProvisionedConcurrencyNum: &n,
			}, &ok{}, nil)
		},
	}
	a.nsFlag(pput, &ns)
	var qualifier string
	pget := &cobra.Command{
		Use: "get FUNCTION", Short: "Show a function's provisioned instances per version", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.GetProvisionedConcurrencyConfigResponse
			return a.call(cmd, "GetProvisionedConcurrencyConfig", api.GetProvisionedConcurrencyConfigRequest{FunctionName: args[0], Namespace: ns, Qualifier: qualifier}, &resp, func(w *tabwriter.Writer) {
				row(w, "VERSION", "ALLOCATED", "AVAILABLE", "STATUS", "REASON")
				for _, p := range resp.Allocated {
					row(w, p.Qualifier, p.AllocatedProvisionedConcurrencyNum, p.AvailableProvisionedConcurrencyNum, p.Status, p.StatusReason)
				}
			})
		},
	}
	a.nsFlag(pget, &ns)
	pget.Flags().StringVarP(&qualifier, "qualifier", "q", "", "only this version")
	prm := &cobra.Command{
		Use: "rm FUNCTION VERSION", Aliases: []string{"delete"}, Short: "Stop provisioning a version", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, "DeleteProvisionedConcurrencyConfig", api.DeleteProvisionedConcurrencyConfigRequest{FunctionName: args[0], Namespace: ns, Qualifier: args[1]}, &ok{}, nil)
		},
	}
	a.nsFlag(prm, &ns)
	provisioned.AddCommand(pput, pget, prm)

	total := &cobra.Command{Use: "total", Short: "The account's concurrency quota"}
	tput := &cobra.Command{
		Use: "put MB", Short: "Set the account's concurrency quota in MB", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mb, err := megabytes(args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, "PutTotalConcurrencyConfig", api.PutTotalConcurrencyConfigRequest{TotalConcurrencyMem: &mb}, &ok{}, nil)
		},
	}
	total.AddCommand(tput)
	cmd.AddCommand(reserved, provisioned, total)
	return cmd
}

func megabytes(s string) (int64, error) {
	mb, err := strconv.ParseInt(s, 10, 64)
	if err != nil || mb < 0 {
		return 0, fmt.Errorf("MB %q: want a number of MB, such as 1024 (8 instances of 128 MB)", s)
	}
	return mb, nil
}

// accountCmd is `scfd account` (GetAccount).
func (a *app) accountCmd() *cobra.Command {
	return &cobra.Command{
		Use: "account", Short: "Show the account's namespaces, functions and concurrency quota", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp api.GetAccountResponse
			return a.call(cmd, "GetAccount", struct{}{}, &resp, func(w *tabwriter.Writer) {
				u := resp.AccountUsage
				fmt.Fprintf(w, "concurrency: %d MB in total, %d MB reserved, %d MB reservable at most\n\n",
					u.TotalConcurrencyMem, u.TotalAllocatedConcurrencyMem, u.UserConcurrencyMemLimit)
				row(w, "NAMESPACE", "FUNCTIONS", "RESERVED MB", "PROVISIONED MB")
				for _, n := range u.Namespace {
					row(w, n.Namespace, n.FunctionsCount, n.TotalAllocatedConcurrencyMem, n.TotalAllocatedProvisionedMem)
				}
			})
		},
	}
}

// instancesCmd is `scfd fn instances` (ListInstances).
func (a *app) instancesCmd(ns *string) *cobra.Command {
	var qualifier string
	cmd := &cobra.Command{
		Use: "instances FUNCTION", Short: "List a function's live instances", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.ListInstancesResponse
			return a.call(cmd, "ListInstances", api.ListInstancesRequest{FunctionName: args[0], Namespace: *ns, Qualifier: qualifier}, &resp, func(w *tabwriter.Writer) {
				row(w, "INSTANCE", "VERSION", "STATE", "ACTIVE", "SERVED", "PROVISIONED", "STARTED", "LAST USED")
				for _, in := range resp.Instances {
					row(w, in.InstanceId, in.Qualifier, in.State, in.Requests, in.Served, in.Provisioned, in.StartTime, in.LastUsedTime)
				}
			})
		},
	}
	cmd.Flags().StringVarP(&qualifier, "qualifier", "q", "", "only this version")
	return cmd
}
