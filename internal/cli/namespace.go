package cli

import (
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

func (a *app) namespaceCmd() *cobra.Command {
	ns := &cobra.Command{Use: "ns", Aliases: []string{"namespace"}, Short: "Manage namespaces"}
	var desc string

	create := &cobra.Command{
		Use: "create NAME", Short: "Create a namespace", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "CreateNamespace", api.CreateNamespaceRequest{Namespace: args[0], Description: desc}, &resp, nil)
		},
	}
	create.Flags().StringVar(&desc, "description", "", "description")

	update := &cobra.Command{
		Use: "update NAME", Short: "Change a namespace's description", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "UpdateNamespace", api.UpdateNamespaceRequest{Namespace: args[0], Description: desc}, &resp, nil)
		},
	}
	update.Flags().StringVar(&desc, "description", "", "description")

	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List namespaces", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp api.ListNamespacesResponse
			return a.call(cmd, "ListNamespaces", api.ListNamespacesRequest{Limit: 1000}, &resp, func(w *tabwriter.Writer) {
				row(w, "NAME", "TYPE", "DESCRIPTION", "CREATED")
				for _, n := range resp.Namespaces {
					row(w, n.Name, n.Type, n.Description, n.AddTime)
				}
			})
		},
	}

	rm := &cobra.Command{
		Use: "rm NAME", Aliases: []string{"delete"}, Short: "Delete an empty namespace", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "DeleteNamespace", api.DeleteNamespaceRequest{Namespace: args[0]}, &resp, nil)
		},
	}
	update.ValidArgsFunction, rm.ValidArgsFunction = a.completeNamespace, a.completeNamespace
	ns.AddCommand(create, ls, update, rm)
	return ns
}
