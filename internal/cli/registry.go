package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/registry"
)

func (a *app) registryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Maintain scfd's embedded image registry"}
	var addr string
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Delete untagged manifests and blobs that no tag, no function version and no push of the last hour uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := a.key()
			if err != nil {
				return err
			}
			t, err := a.transport()
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, a.scheme()+"://"+addr+registry.GCPath, nil)
			if err != nil {
				return err
			}
			req.SetBasicAuth(key.SecretID, key.SecretKey)
			resp, err := (&http.Client{Transport: t}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("registry gc: %s: %s", resp.Status, body)
			}
			var res registry.GCResult
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("registry gc: %w", err)
			}
			if a.output == "json" {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.out, "removed %d blobs, %d manifests, %d abandoned uploads\n", res.Blobs, res.Manifests, res.Uploads)
			return nil
		},
	}
	gc.Flags().StringVar(&addr, "registry", or(a.getenv("SCFD_REGISTRY_ADDR"), config.DefaultRegistryAddr), "scfd's registry [SCFD_REGISTRY_ADDR]")
	cmd.AddCommand(gc)
	return cmd
}
