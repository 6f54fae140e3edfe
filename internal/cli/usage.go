package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
)

func (a *app) usageCmd() *cobra.Command {
	var namespace, function, since, until string
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show metered usage and cost per function (GetUsage)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := api.GetUsageRequest{Namespace: namespace, FunctionName: function}
			var err error
			if req.StartTime, err = usageTime("--since", since); err != nil {
				return err
			}
			if req.EndTime, err = usageTime("--until", until); err != nil {
				return err
			}
			var resp api.GetUsageResponse
			return a.call(cmd, "GetUsage", req, &resp, func(w *tabwriter.Writer) {
				row(w, "NAMESPACE", "FUNCTION", "INVOCATIONS", "ERRORS", "GB-S", "IDLE PROVISIONED GB-S", "OUTBOUND BYTES", "COST (USD)")
				for _, u := range resp.Functions {
					usageRow(w, u.Namespace, u.FunctionName, u)
				}
				usageRow(w, "TOTAL", "(free tier deducted)", resp.Total)
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "only this namespace")
	a.completeNamespaceFlag(cmd, "namespace")
	cmd.Flags().StringVar(&function, "function", "", "only functions of this name")
	cmd.Flags().StringVar(&since, "since", "", `start: a duration back from now ("24h") or "YYYY-MM-DD HH:MM:SS" UTC`)
	cmd.Flags().StringVar(&until, "until", "", `end: a duration back from now or "YYYY-MM-DD HH:MM:SS" UTC`)
	return cmd
}

func usageRow(w *tabwriter.Writer, ns, fn string, u api.FunctionUsage) {
	row(w, ns, fn, u.Invocations, u.Errors, strconv.FormatFloat(u.GBSeconds, 'f', -1, 64),
		strconv.FormatFloat(u.ProvisionedIdleGBSeconds, 'f', -1, 64), u.OutboundBytes, strconv.FormatFloat(u.Cost, 'f', 6, 64))
}

// usageTime turns "24h" into the UTC time that long ago; other values
// pass through for the server to check.
func usageTime(flag, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return "", fmt.Errorf("%s %q: want a positive duration", flag, v)
		}
		return time.Now().UTC().Add(-d).Format(time.DateTime), nil
	}
	return v, nil
}
