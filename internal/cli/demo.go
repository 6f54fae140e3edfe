package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
)

// demoOptions are the flags of `scfd demo`.
type demoOptions struct {
	source    string // the example's Go main package
	registry  string // host:port of scfd's registry
	gateway   string // host:port of scfd's gateway
	namespace string
}

func (a *app) demoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build examples/hello into an image, push it to scfd's registry, deploy it as an event and an HTTP function, invoke them",
		Long: "Demo runs the quick start against a running `scfd serve`: it builds the example server with\n" +
			"`go build` (no Docker needed), packs it into an image, pushes it to the embedded registry,\n" +
			"creates (or updates) an event function and an HTTP function in namespace demo, invokes the\n" +
			"event function, prints its answer and logs, and the commands to try next.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.demo(cmd, o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.source, "source", "examples/hello", "directory of the example function's Go main package")
	fs.StringVar(&o.registry, "registry", or(a.getenv("SCFD_REGISTRY_ADDR"), config.DefaultRegistryAddr), "scfd's registry [SCFD_REGISTRY_ADDR]")
	fs.StringVar(&o.gateway, "gateway", or(a.getenv("SCFD_GATEWAY_ADDR"), config.DefaultGatewayAddr), "scfd's gateway [SCFD_GATEWAY_ADDR]")
	fs.StringVarP(&o.namespace, "namespace", "n", "demo", "namespace of the demo functions")
	return cmd
}

const (
	demoEvent = "hello-event"
	demoWeb   = "hello-web"
)

func (a *app) demo(cmd *cobra.Command, o demoOptions) error {
	ctx := cmd.Context()
	w := a.out
	key, err := a.key()
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}

	img, size, err := buildDemoImage(ctx, o.source)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "1. built %s as a static linux/amd64 binary in a %.1f MB image\n", o.source, float64(size)/(1<<20))

	uri := fmt.Sprintf("%s/%s/hello:latest", o.registry, o.namespace)
	ref, err := name.ParseReference(uri, name.Insecure)
	if err != nil {
		return fmt.Errorf("image name %s: %w", uri, err)
	}
	t, err := a.transport()
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithTransport(t),
		remote.WithAuth(&authn.Basic{Username: key.SecretID, Password: key.SecretKey})); err != nil {
		return fmt.Errorf("push %s (is `scfd serve` running with its registry on %s?): %w", uri, o.registry, err)
	}
	d, _ := img.Digest()
	fmt.Fprintf(w, "2. pushed %s (%s)\n", uri, d)

	if err := c.Call(ctx, "CreateNamespace", api.CreateNamespaceRequest{Namespace: o.namespace, Description: "scfd demo"}, nil); err != nil && !isCode(err, "ResourceInUse.Namespace") {
		return err
	}
	code := &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: uri}}
	for _, f := range []struct{ name, typ string }{{demoEvent, "Event"}, {demoWeb, "HTTP"}} {
		err := c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
			FunctionName: f.name, Namespace: o.namespace, Type: f.typ, Code: code, MemorySize: 256,
			Environment: &api.Environment{Variables: []api.Variable{{Key: "GREETING", Value: "hello from scfd"}}},
		}, nil)
		if isCode(err, "ResourceInUse.Function") {
			err = c.Call(ctx, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: f.name, Namespace: o.namespace, Code: code}, nil)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "3. deployed:\n")
	for _, f := range []string{demoEvent, demoWeb} {
		fmt.Fprint(w, "   ")
		if err := a.finish(cmd, o.namespace, f, true); err != nil {
			return err
		}
	}

	var inv api.InvokeResponse
	if err := c.Call(ctx, "Invoke", api.InvokeRequest{
		FunctionName: demoEvent, Namespace: o.namespace, ClientContext: `{"from":"scfd demo"}`, LogType: "Tail",
	}, &inv); err != nil {
		return err
	}
	r := inv.Result
	fmt.Fprintf(w, "4. invoked %s/%s (request %s, %.0f ms, billed %d ms):\n   %s\n", o.namespace, demoEvent, r.FunctionRequestId, r.Duration, r.BillDuration, r.RetMsg)
	if r.InvokeResult != 0 {
		return fmt.Errorf("the invocation failed with status %d: %s", r.InvokeResult, r.ErrMsg)
	}

	var logs api.GetFunctionLogsResponse
	if err := c.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{
		FunctionName: demoEvent, Namespace: o.namespace, FunctionRequestId: r.FunctionRequestId,
	}, &logs); err != nil {
		return err
	}
	fmt.Fprintf(w, "5. its log (GetFunctionLogs):\n")
	for _, l := range logs.Data {
		fmt.Fprintf(w, "   %s %s\n", l.StartTime, indent(l.Log))
	}

	webURL := fmt.Sprintf("%s://%s/%s/%s/hello?from=demo", a.scheme(), o.gateway, o.namespace, demoWeb)
	body, err := httpGet(ctx, &http.Client{Transport: t}, webURL)
	if err != nil {
		return fmt.Errorf("calling %s/%s through the gateway: %w", o.namespace, demoWeb, err)
	}
	fmt.Fprintf(w, "6. called the HTTP function %s/%s through the gateway:\n   GET %s\n   %s\n", o.namespace, demoWeb, webURL, strings.TrimSpace(body))

	fmt.Fprintf(w, "\nTry by hand:\n")
	fmt.Fprintf(w, "  scfd invoke %s -n %s --event '{\"name\":\"you\"}'\n", demoEvent, o.namespace)
	fmt.Fprintf(w, "  scfd logs %s -n %s\n", demoEvent, o.namespace)
	fmt.Fprintf(w, "  curl '%s://%s/%s/%s/any/path?q=1'\n", a.scheme(), o.gateway, o.namespace, demoWeb)
	fmt.Fprintf(w, "Deploy your own function from a directory with a Dockerfile (built with buildah):\n")
	fmt.Fprintf(w, "  scfd deploy DIR -n %s --name app\n", o.namespace)
	fmt.Fprintf(w, "or push an image built elsewhere (an OCI layout, a docker save archive, buildah or podman storage) and deploy it:\n")
	fmt.Fprintf(w, "  scfd push app.tar %s/app:1\n", o.namespace)
	fmt.Fprintf(w, "  scfd deploy -n %s --name app --image %s/%s/app:1\n", o.namespace, o.registry, o.namespace)
	return nil
}

// key is the key pair the CLI acts with: the flags', else the local
// server's administrator key.
func (a *app) key() (credentials.Key, error) {
	if a.secretID != "" {
		return credentials.Key{SecretID: a.secretID, SecretKey: a.secretKey}, nil
	}
	k, err := credentials.LoadAdmin(or(a.dataDir, config.DefaultDataDir()))
	if err != nil {
		return credentials.Key{}, fmt.Errorf("no key given (--secret-id/--secret-key or SCFD_SECRET_ID/SCFD_SECRET_KEY) and %w", err)
	}
	return k, nil
}

func isCode(err error, code string) bool {
	var e *client.APIError
	return errors.As(err, &e) && e.Code == code
}

func indent(s string) string {
	return string(bytes.ReplaceAll(bytes.TrimRight([]byte(s), "\n"), []byte("\n"), []byte("\n   ")))
}

// buildDemoImage builds the Go main package in dir as a static
// linux/amd64 binary and packs it into an image with Docker's media
// types: one layer holding /hello and /tmp, Entrypoint ["/hello"], port
// 9000. size is the image's compressed size.
func buildDemoImage(ctx context.Context, dir string) (v1.Image, int64, error) {
	tmp, err := os.MkdirTemp("", "scfd-demo-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "hello")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("go build in %s: %w\n%s", dir, err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	for _, h := range []*tar.Header{
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: now},
		{Name: "hello", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body)), ModTime: now},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, 0, err
		}
	}
	if _, err := tw.Write(body); err != nil {
		return nil, 0, err
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	layerTar := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, 0, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, 0, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, 0, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{
		Entrypoint:   []string{"/hello"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		ExposedPorts: map[string]struct{}{"9000/tcp": {}},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, 0, err
	}
	size, err := layer.Size()
	return img, size, err
}

// httpGet fetches url and returns its body; a status other than 200 is an
// error.
func httpGet(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", res.StatusCode, bytes.TrimSpace(b))
	}
	return string(b), nil
}
