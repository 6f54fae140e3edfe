package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

func (a *app) keyCmd() *cobra.Command {
	key := &cobra.Command{Use: "key", Aliases: []string{"keys"}, Short: "Manage tenant keys: key pairs limited to namespaces, with a role (administrator only)"}

	var namespaces []string
	var role, desc string
	create := &cobra.Command{
		Use:   "create -n NAMESPACE[,NAMESPACE...] --role ROLE",
		Short: "Create a key for namespaces; its SecretKey is printed once",
		Long: "Create a key limited to namespaces, with a role: FullControl (create, change, delete, invoke and read\n" +
			"functions; push images), InvokeAndRead (invoke and read; pull images) or ReadOnly (read; pull images).\n" +
			"The SecretKey is printed now and never again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp api.CreateKeyResponse
			return a.call(cmd, "CreateKey", api.CreateKeyRequest{Namespaces: namespaces, Role: role, Description: desc}, &resp, func(w *tabwriter.Writer) {
				k := resp.Key
				row(w, "SecretId:", k.SecretId)
				row(w, "SecretKey:", k.SecretKey)
				row(w, "Namespaces:", strings.Join(k.Namespaces, ","))
				row(w, "Role:", k.Role)
				fmt.Fprintln(w, "The SecretKey is not shown again: keep it now.")
			})
		},
	}
	create.Flags().StringSliceVarP(&namespaces, "namespace", "n", nil, "namespaces the key may act on (repeatable, or comma-separated)")
	create.Flags().StringVar(&role, "role", "", "FullControl, InvokeAndRead or ReadOnly")
	create.Flags().StringVar(&desc, "description", "", "description")
	a.completeNamespaceFlag(create, "namespace")
	create.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"FullControl", "InvokeAndRead", "ReadOnly"}, cobra.ShellCompDirectiveNoFileComp))

	var lsNamespace string
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List the tenant keys (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp api.ListKeysResponse
			return a.call(cmd, "ListKeys", api.ListKeysRequest{Limit: 1000, Namespace: lsNamespace}, &resp, func(w *tabwriter.Writer) {
				row(w, "SECRETID", "NAMESPACES", "ROLE", "STATUS", "DESCRIPTION", "CREATED")
				for _, k := range resp.Keys {
					row(w, k.SecretId, strings.Join(k.Namespaces, ","), k.Role, k.Status, k.Description, k.AddTime)
				}
			})
		},
	}
	ls.Flags().StringVarP(&lsNamespace, "namespace", "n", "", "only the keys of this namespace")
	a.completeNamespaceFlag(ls, "namespace")

	status := func(use, short, to string) *cobra.Command {
		return &cobra.Command{
			Use: use + " SECRETID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var resp api.UpdateKeyResponse
				return a.call(cmd, "UpdateKey", api.UpdateKeyRequest{SecretId: args[0], Status: &to}, &resp, func(w *tabwriter.Writer) {
					row(w, resp.Key.SecretId, resp.Key.Status)
				})
			},
		}
	}
	disable := status("disable", "Disable a key: it authenticates nothing from the next request on", api.KeyDisabled)
	enable := status("enable", "Enable a disabled key", api.KeyEnabled)

	var upNamespaces []string
	var upRole, upDesc string
	update := &cobra.Command{
		Use: "update SECRETID [-n NAMESPACE,...] [--role ROLE] [--description D]", Short: "Change a key's namespaces, role or description", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.UpdateKeyRequest{SecretId: args[0], Namespaces: upNamespaces}
			if cmd.Flags().Changed("role") {
				req.Role = &upRole
			}
			if cmd.Flags().Changed("description") {
				req.Description = &upDesc
			}
			var resp api.UpdateKeyResponse
			return a.call(cmd, "UpdateKey", req, &resp, func(w *tabwriter.Writer) {
				row(w, resp.Key.SecretId, strings.Join(resp.Key.Namespaces, ","), resp.Key.Role, resp.Key.Status)
			})
		},
	}
	update.Flags().StringSliceVarP(&upNamespaces, "namespace", "n", nil, "the key's new namespaces (repeatable, or comma-separated)")
	update.Flags().StringVar(&upRole, "role", "", "FullControl, InvokeAndRead or ReadOnly")
	update.Flags().StringVar(&upDesc, "description", "", "description")
	a.completeNamespaceFlag(update, "namespace")

	rm := &cobra.Command{
		Use: "rm SECRETID", Aliases: []string{"delete"}, Short: "Delete a key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "DeleteKey", api.DeleteKeyRequest{SecretId: args[0]}, &resp, nil)
		},
	}
	key.AddCommand(create, ls, update, disable, enable, rm)
	return key
}
