// Package cli is scfd's command line: `scfd serve` runs the platform, and
// the other commands (deploy, push, ns, fn, version, alias, trigger,
// concurrency, async, ...) are a client of its SCF API and its registry
// for people.
//
// Every client command goes through internal/client, signs its requests
// like the official SDKs do, prints a table by default and the API's JSON
// with -o json. The endpoint and key come from flags, SCFD_ENDPOINT,
// SCFD_SECRET_ID and SCFD_SECRET_KEY, defaulting to the local server and
// the administrator key it keeps in its data directory. Failures are one
// line with SCF's error code and what to do next (errors.go). `scfd
// deploy` builds with buildah, run as a child process (build.go), and
// pushes with go-containerregistry (push.go).
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/tc3"
)

// Env reads the environment; tests replace it.
type Env func(string) string

// app holds what every client command shares.
type app struct {
	getenv    Env
	out       io.Writer
	errOut    io.Writer // progress of long commands when out carries JSON
	endpoint  string
	secretID  string
	secretKey string
	dataDir   string
	output    string
	region    string
	ca        string // --ca-file
}

// NewRoot returns the scfd command tree writing to out.
func NewRoot(getenv Env, out, errOut io.Writer) *cobra.Command {
	a := &app{getenv: getenv, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:           "scfd",
		Short:         "scfd runs container images as serverless functions, compatible with Tencent Cloud SCF",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newServe(getenv, out, errOut))

	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoint, "endpoint", getenv("SCFD_ENDPOINT"), "SCF API endpoint (default http://$SCFD_API_ADDR, https:// when SCFD_TLS or SCFD_TLS_CERT is set) [SCFD_ENDPOINT]")
	pf.StringVar(&a.ca, "ca-file", getenv("SCFD_CA_FILE"), "PEM file of certificate authorities to trust besides the system's (default: the local server's self-signed one, DATA/tls/ca.pem, if any) [SCFD_CA_FILE]")
	pf.StringVar(&a.secretID, "secret-id", getenv("SCFD_SECRET_ID"), "SecretId (default: the local server's administrator key) [SCFD_SECRET_ID]")
	pf.StringVar(&a.secretKey, "secret-key", getenv("SCFD_SECRET_KEY"), "SecretKey [SCFD_SECRET_KEY]")
	pf.StringVar(&a.dataDir, "data-dir", getenv("SCFD_DATA_DIR"), "data dir of the local server, where its administrator key is kept [SCFD_DATA_DIR]")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&a.region, "region", or(getenv("SCFD_REGION"), config.DefaultRegion), "region sent with requests [SCFD_REGION]")
	root.AddCommand(a.namespaceCmd(), a.functionCmd(), a.invokeCmd(), a.logsCmd(), a.demoCmd(), a.registryCmd(), a.usageCmd())
	root.AddCommand(a.asyncCmd(), a.deployCmd(), a.pushCmd(), a.versionCmd(), a.aliasCmd(), a.triggerCmd(), a.concurrencyCmd(), a.accountCmd(), a.keyCmd())
	explainAll(root)
	return root
}

// Main runs the command line and returns the process exit code. The
// first SIGINT or SIGTERM cancels the command's context, so that a long
// wait (a build, a push, a deploy) stops cleanly; a second one kills the
// builds still running and exits at once with status 130.
func Main(ctx context.Context, args []string) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		cancel()
		<-sigs
		killBuilds()
		os.Exit(130)
	}()
	root := NewRoot(os.Getenv, os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scfd:", oneLine(err))
		return 1
	}
	return 0
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// client builds the API client from the flags and the environment.
func (a *app) client() (*client.Client, error) {
	endpoint := a.endpoint
	if endpoint == "" {
		endpoint = or(a.getenv("SCFD_API_ADDR"), config.DefaultAPIAddr)
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = a.scheme() + "://" + endpoint
	}
	t, err := a.transport()
	if err != nil {
		return nil, err
	}
	id, key := a.secretID, a.secretKey
	if id == "" {
		dir := or(a.dataDir, config.DefaultDataDir())
		k, err := credentials.LoadAdmin(dir)
		if err != nil {
			return nil, fmt.Errorf("no key given (--secret-id/--secret-key or SCFD_SECRET_ID/SCFD_SECRET_KEY) and %w", err)
		}
		id, key = k.SecretID, k.SecretKey
	}
	return client.New(endpoint, tc3.Credential{SecretID: id, SecretKey: key}, client.WithRegion(a.region), client.WithHTTPClient(&http.Client{Transport: t})), nil
}

// call runs one action and prints its response: as JSON with -o json, else
// through table.
func (a *app) call(cmd *cobra.Command, action string, req, resp any, table func(w *tabwriter.Writer)) error {
	if a.output != "table" && a.output != "json" {
		return fmt.Errorf("unknown output format %q: use table or json", a.output)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := c.Call(cmd.Context(), action, req, resp); err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(resp)
	}
	if table == nil {
		return nil
	}
	w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// printJSON writes v as indented JSON, the output of -o json.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func row(w io.Writer, cols ...any) {
	for i, c := range cols {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	io.WriteString(w, "\n")
}
