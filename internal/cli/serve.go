package cli

import (
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/daemon"
)

func newServe(getenv Env, out, errOut io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the scfd server in the foreground (stops cleanly on SIGINT or SIGTERM)",
		Args:  cobra.NoArgs,
	}
	config.Flags(cmd.Flags(), getenv)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := config.Load(cmd.Flags())
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return daemon.Run(ctx, c, daemon.NewLogger(c, errOut), out)
	}
	return cmd
}
