package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

// triggerCmd is `scfd trigger`: CreateTrigger, UpdateTriggerStatus,
// DeleteTrigger, ListTriggers.
func (a *app) triggerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Aliases: []string{"triggers"}, Short: "Manage a function's timers, API gateway triggers and function URLs"}
	var ns string

	var typ, cron, qualifier, argument, desc, auth string
	var disabled bool
	add := &cobra.Command{
		Use:   "add FUNCTION TRIGGER --type timer --cron EXPR | --type apigw | --type http [--auth CAM]",
		Short: "Add a trigger: a timer (SCF's 7-field cron, UTC), an HTTP endpoint on the gateway (apigw) or a function URL (http)",
		Example: "  scfd trigger add hello every5m --type timer --cron '0 */5 * * * * *' --argument '{\"k\":1}'\n" +
			"  scfd trigger add hello web --type apigw\n" +
			"  scfd trigger add hello url --type http --auth CAM",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ == "timer" && cron == "" {
				return fmt.Errorf("a timer needs --cron, such as '0 */5 * * * * *' (every five minutes)")
			}
			tdesc := cron
			if typ == "http" {
				tdesc = fmt.Sprintf(`{"AuthType":%q}`, auth)
			}
			req := api.CreateTriggerRequest{
				FunctionName: args[0], TriggerName: args[1], Type: typ, TriggerDesc: tdesc, Namespace: ns,
				Qualifier: qualifier, CustomArgument: argument, Description: desc,
			}
			if disabled {
				req.Enable = "CLOSE"
			}
			var resp api.CreateTriggerResponse
			return a.call(cmd, "CreateTrigger", req, &resp, func(w *tabwriter.Writer) {
				t := resp.TriggerInfo
				var url struct{ Url string }
				switch {
				case t.Type == "apigw":
					fmt.Fprintf(w, "added trigger %s: %s\n", t.TriggerName, t.TriggerDesc)
				case t.Type == "http" && json.Unmarshal([]byte(t.TriggerDesc), &url) == nil:
					fmt.Fprintf(w, "added trigger %s: %s\n", t.TriggerName, url.Url)
				default:
					fmt.Fprintf(w, "added trigger %s (%s %s)\n", t.TriggerName, t.Type, t.TriggerDesc)
				}
			})
		},
	}
	a.nsFlag(add, &ns)
	f := add.Flags()
	f.StringVar(&typ, "type", "timer", "timer, apigw or http")
	f.StringVar(&auth, "auth", "NONE", "a function URL's AuthType: NONE, or CAM for requests signed by a key allowed on the namespace")
	f.StringVar(&cron, "cron", "", "the timer's schedule: SCF's 7-field cron (second minute hour day month weekday year) or 5 fields, UTC")
	f.StringVarP(&qualifier, "qualifier", "q", "", "the version or alias the trigger invokes (default $LATEST)")
	f.StringVar(&argument, "argument", "", "the timer event's Message")
	f.StringVar(&desc, "description", "", "description")
	f.BoolVar(&disabled, "disabled", false, "add it disabled")
	add.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"timer", "apigw", "http"}, cobra.ShellCompDirectiveNoFileComp))

	status := func(use, short, enable string) *cobra.Command {
		c := &cobra.Command{
			Use: use + " FUNCTION TRIGGER", Short: short, Args: cobra.ExactArgs(2),
			ValidArgsFunction: a.completeFunction,
			RunE: func(cmd *cobra.Command, args []string) error {
				req := api.UpdateTriggerRequest{FunctionName: args[0], TriggerName: args[1], Namespace: ns, Enable: &enable}
				return a.call(cmd, "UpdateTriggerStatus", req, &ok{}, nil)
			},
		}
		a.nsFlag(c, &ns)
		return c
	}

	rm := &cobra.Command{
		Use: "rm FUNCTION TRIGGER", Aliases: []string{"delete"}, Short: "Delete a trigger", Args: cobra.ExactArgs(2),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, "DeleteTrigger", api.DeleteTriggerRequest{FunctionName: args[0], TriggerName: args[1], Namespace: ns}, &ok{}, nil)
		},
	}
	a.nsFlag(rm, &ns)

	ls := &cobra.Command{
		Use: "ls FUNCTION", Aliases: []string{"list"}, Short: "List a function's triggers", Args: cobra.ExactArgs(1),
		ValidArgsFunction: a.completeFunction,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.ListTriggersResponse
			return a.call(cmd, "ListTriggers", api.ListTriggersRequest{FunctionName: args[0], Namespace: ns, Limit: 1000, OrderBy: "add_time", Order: "ASC"}, &resp, func(w *tabwriter.Writer) {
				row(w, "NAME", "TYPE", "ENABLED", "QUALIFIER", "STATUS", "LAST RUN", "NEXT RUN", "DESC", "ARGUMENT")
				for _, t := range resp.Triggers {
					status := t.AvailableStatus
					if t.AvailableReason != "" {
						status += ": " + t.AvailableReason
					} else if t.LastRunError != "" {
						status += " (last run: " + t.LastRunError + ")"
					}
					row(w, t.TriggerName, t.Type, t.Enable == 1, or(t.Qualifier, "$LATEST"), status,
						or(t.LastRunTime, "-"), or(t.NextRunTime, "-"), t.TriggerDesc, t.CustomArgument)
				}
			})
		},
	}
	a.nsFlag(ls, &ns)
	cmd.AddCommand(add, status("enable", "Enable a trigger", "OPEN"), status("disable", "Disable a trigger", "CLOSE"), rm, ls)
	return cmd
}
