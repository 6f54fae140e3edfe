package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

// Shell completion (`scfd completion bash|zsh|fish|powershell`, cobra's)
// asks the server for namespace and function names. A server that does
// not answer within completionTimeout completes nothing.
const completionTimeout = 3 * time.Second

// nsFlag adds -n/--namespace (default "default") to cmd, completed from
// the server.
func (a *app) nsFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", "default", "namespace")
	a.completeNamespaceFlag(cmd, "namespace")
}

// completeNamespaceFlag completes cmd's flag with the server's
// namespaces.
func (a *app) completeNamespaceFlag(cmd *cobra.Command, flag string) {
	cmd.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return a.namespaceNames(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
	})
}

// completeNamespace completes a command's first argument with the
// server's namespaces.
func (a *app) completeNamespace(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.namespaceNames(ctxOf(cmd)), cobra.ShellCompDirectiveNoFileComp
}

// completeFunction completes a command's first argument with the names
// of the functions in the namespace of its -n flag.
func (a *app) completeFunction(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ns, _ := cmd.Flags().GetString("namespace")
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(ctxOf(cmd), completionTimeout)
	defer cancel()
	var resp api.ListFunctionsResponse
	if err := c.Call(ctx, "ListFunctions", api.ListFunctionsRequest{Namespace: ns, Limit: 1000, Orderby: "FunctionName", Order: "ASC"}, &resp); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(resp.Functions))
	for _, f := range resp.Functions {
		names = append(names, f.FunctionName)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) namespaceNames(ctx context.Context) []string {
	c, err := a.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	var resp api.ListNamespacesResponse
	if err := c.Call(ctx, "ListNamespaces", api.ListNamespacesRequest{Limit: 1000}, &resp); err != nil {
		return nil
	}
	names := make([]string, 0, len(resp.Namespaces))
	for _, n := range resp.Namespaces {
		names = append(names, n.Name)
	}
	return names
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
