package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

// ok is the response of actions that answer nothing but a RequestId.
type ok struct{ RequestId string }

// versionCmd is `scfd version`: PublishVersion, ListVersionByFunction,
// DeleteFunctionVersion.
func (a *app) versionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "version", Aliases: []string{"versions"}, Short: "Publish, list and delete a function's versions"}
	var ns, desc string

	publish := &cobra.Command{
		Use: "publish FUNCTION", Short: "Snapshot $LATEST's image and configuration as the next version", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.PublishVersionResponse
			return a.call(cmd, "PublishVersion", api.PublishVersionRequest{FunctionName: args[0], Namespace: ns, Description: desc}, &resp, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "published %s/%s version %s\n", ns, args[0], resp.FunctionVersion)
			})
		},
	}
	a.nsFlag(publish, &ns)
	publish.Flags().StringVar(&desc, "description", "", "the version's description")

	ls := &cobra.Command{
		Use: "ls FUNCTION", Aliases: []string{"list"}, Short: "List a function's versions", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.ListVersionByFunctionResponse
			return a.call(cmd, "ListVersionByFunction", api.ListVersionByFunctionRequest{FunctionName: args[0], Namespace: ns, Limit: 1000}, &resp, func(w *tabwriter.Writer) {
				row(w, "VERSION", "STATUS", "DESCRIPTION", "CREATED")
				for _, v := range resp.Versions {
					row(w, v.Version, v.Status, v.Description, v.AddTime)
				}
			})
		},
	}
	a.nsFlag(ls, &ns)

	rm := &cobra.Command{
		Use: "rm FUNCTION VERSION", Aliases: []string{"delete"}, Short: "Delete a published version no alias routes to", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, "DeleteFunctionVersion", api.DeleteFunctionVersionRequest{FunctionName: args[0], Namespace: ns, Qualifier: args[1]}, &ok{}, nil)
		},
	}
	a.nsFlag(rm, &ns)
	cmd.AddCommand(publish, ls, rm)
	return cmd
}

// aliasFlags are the flags of alias create and update.
type aliasFlags struct {
	version, description string
	weights, matches     []string
}

func (f *aliasFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.version, "version", "", "the version the alias points at")
	fs.StringArrayVar(&f.weights, "weight", nil, "send a share of the traffic to another version: VERSION=0.2 (repeatable)")
	fs.StringArrayVar(&f.matches, "match", nil, "route calls whose RoutingKey matches to another version: VERSION:KEY:exact:VALUE or VERSION:KEY:range:[A,B) (repeatable)")
	fs.StringVar(&f.description, "description", "", "the alias's description")
}

// routing parses --weight and --match; nil when neither was given.
func (f *aliasFlags) routing() (*api.RoutingConfig, error) {
	if len(f.weights) == 0 && len(f.matches) == 0 {
		return nil, nil
	}
	r := &api.RoutingConfig{}
	for _, w := range f.weights {
		v, s, found := strings.Cut(w, "=")
		weight, err := strconv.ParseFloat(s, 64)
		if !found || v == "" || err != nil {
			return nil, fmt.Errorf("--weight %q: want VERSION=WEIGHT, such as 2=0.2", w)
		}
		r.AdditionalVersionWeights = append(r.AdditionalVersionWeights, api.VersionWeight{Version: v, Weight: weight})
	}
	for _, m := range f.matches {
		parts := strings.SplitN(m, ":", 4)
		if len(parts) != 4 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("--match %q: want VERSION:KEY:exact:VALUE or VERSION:KEY:range:[A,B)", m)
		}
		r.AddtionVersionMatchs = append(r.AddtionVersionMatchs, api.VersionMatch{Version: parts[0], Key: parts[1], Method: parts[2], Expression: parts[3]})
	}
	return r, nil
}

// aliasCmd is `scfd alias`: CreateAlias, UpdateAlias, GetAlias,
// ListAliases, DeleteAlias.
func (a *app) aliasCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alias", Aliases: []string{"aliases"}, Short: "Manage a function's aliases and their traffic routing"}
	var ns string

	var cf aliasFlags
	create := &cobra.Command{
		Use: "create FUNCTION ALIAS --version V", Short: "Create an alias", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			routing, err := cf.routing()
			if err != nil {
				return err
			}
			req := api.AliasRequest{FunctionName: args[0], Name: args[1], Namespace: ns, FunctionVersion: cf.version, RoutingConfig: routing}
			if cmd.Flags().Changed("description") {
				req.Description = &cf.description
			}
			return a.call(cmd, "CreateAlias", req, &ok{}, nil)
		},
	}
	a.nsFlag(create, &ns)
	cf.register(create)
	create.MarkFlagRequired("version")

	var uf aliasFlags
	update := &cobra.Command{
		Use: "update FUNCTION ALIAS", Short: "Change an alias's version, routing or description (routing not given is cleared)", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			routing, err := uf.routing()
			if err != nil {
				return err
			}
			req := api.AliasRequest{FunctionName: args[0], Name: args[1], Namespace: ns, FunctionVersion: uf.version, RoutingConfig: routing}
			if cmd.Flags().Changed("description") {
				req.Description = &uf.description
			}
			if req.FunctionVersion == "" {
				c, err := a.client()
				if err != nil {
					return err
				}
				var cur api.Alias
				if err := c.Call(cmd.Context(), "GetAlias", api.AliasKey{FunctionName: args[0], Name: args[1], Namespace: ns}, &cur); err != nil {
					return err
				}
				req.FunctionVersion = cur.FunctionVersion
			}
			if req.RoutingConfig == nil {
				req.RoutingConfig = &api.RoutingConfig{}
			}
			return a.call(cmd, "UpdateAlias", req, &ok{}, nil)
		},
	}
	a.nsFlag(update, &ns)
	uf.register(update)

	get := &cobra.Command{
		Use: "get FUNCTION ALIAS", Short: "Show an alias", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.Alias
			return a.call(cmd, "GetAlias", api.AliasKey{FunctionName: args[0], Name: args[1], Namespace: ns}, &resp, func(w *tabwriter.Writer) {
				row(w, "ALIAS", "VERSION", "ROUTING", "DESCRIPTION")
				row(w, resp.Name, resp.FunctionVersion, routingText(resp.RoutingConfig), resp.Description)
			})
		},
	}
	a.nsFlag(get, &ns)

	ls := &cobra.Command{
		Use: "ls FUNCTION", Aliases: []string{"list"}, Short: "List a function's aliases", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.ListAliasesResponse
			return a.call(cmd, "ListAliases", api.ListAliasesRequest{FunctionName: args[0], Namespace: ns, Limit: "1000"}, &resp, func(w *tabwriter.Writer) {
				row(w, "ALIAS", "VERSION", "ROUTING", "DESCRIPTION")
				for _, al := range resp.Aliases {
					row(w, al.Name, al.FunctionVersion, routingText(al.RoutingConfig), al.Description)
				}
			})
		},
	}
	a.nsFlag(ls, &ns)

	rm := &cobra.Command{
		Use: "rm FUNCTION ALIAS", Aliases: []string{"delete"}, Short: "Delete an alias", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, "DeleteAlias", api.AliasKey{FunctionName: args[0], Name: args[1], Namespace: ns}, &ok{}, nil)
		},
	}
	a.nsFlag(rm, &ns)
	cmd.AddCommand(create, update, get, ls, rm)
	return cmd
}

func routingText(r api.RoutingConfig) string {
	var parts []string
	for _, w := range r.AdditionalVersionWeights {
		parts = append(parts, fmt.Sprintf("%s=%g", w.Version, w.Weight))
	}
	for _, m := range r.AddtionVersionMatchs {
		parts = append(parts, fmt.Sprintf("%s:%s:%s:%s", m.Version, m.Key, m.Method, m.Expression))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}
