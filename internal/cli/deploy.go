package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/scf"
)

// deployOptions are the flags of `scfd deploy`.
type deployOptions struct {
	fn         functionFlags
	name       string
	dockerfile string
	buildArgs  []string
	registry   string // scfd's registry, host:port
	gateway    string // scfd's gateway, host:port, for the URL of web functions
}

// DeployResult is what `scfd deploy -o json` prints.
type DeployResult struct {
	Namespace    string
	FunctionName string
	Type         string
	ImageUri     string
	ImageDigest  string
	Status       string
	// Created is true when the function did not exist before.
	Created bool
	// Changed is false when the function already ran these sources (or
	// this image) with this configuration: the deploy did nothing.
	Changed bool
	// Invoke is the command that invokes an event function; URL is where
	// a web function answers.
	Invoke string `json:",omitempty"`
	URL    string `json:",omitempty"`
}

func (a *app) deployCmd() *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Build DIR's Dockerfile, push the image to scfd's registry and create or update the function",
		Long: "Deploy builds the Dockerfile in DIR (default .) with buildah for linux/amd64, pushes the image to\n" +
			"scfd's registry as <namespace>/<name>:<content tag> with the CLI's key, creates the function (and\n" +
			"its namespace) or updates its code and the configuration flags given, waits until it is Active\n" +
			"and prints how to invoke it. The content tag is a digest of the sources: deploying unchanged\n" +
			"sources again changes nothing. --image deploys an image that is already built.\n\n" +
			"Interrupting it (Ctrl-C) during the build or the push changes nothing on the server; once the\n" +
			"function is created or updated, the server finishes the deploy on its own.",
		Example: "  scfd deploy ./hello -n team\n  scfd deploy --name api --type HTTP --memory 256 --env MODE=prod\n" +
			"  scfd deploy --name hello --image 127.0.0.1:9300/team/hello:v1",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return a.deploy(cmd, dir, &o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.name, "name", "", "function name (default: DIR's base name)")
	fs.StringVarP(&o.fn.namespace, "namespace", "n", "default", "namespace (created if missing)")
	o.fn.register(fs, true)
	fs.StringVarP(&o.dockerfile, "file", "f", "", "the Dockerfile (default DIR/Dockerfile)")
	fs.StringArrayVar(&o.buildArgs, "build-arg", nil, "build argument K=V (repeatable)")
	fs.StringVar(&o.registry, "registry", a.registryAddr(), "scfd's registry [SCFD_REGISTRY_ADDR]")
	fs.StringVar(&o.gateway, "gateway", or(a.getenv("SCFD_GATEWAY_ADDR"), config.DefaultGatewayAddr), "scfd's gateway, for the URL of HTTP functions [SCFD_GATEWAY_ADDR]")
	a.completeNamespaceFlag(cmd, "namespace")
	cmd.RegisterFlagCompletionFunc("name", func(cmd *cobra.Command, _ []string, s string) ([]string, cobra.ShellCompDirective) {
		return a.completeFunction(cmd, nil, s)
	})
	return cmd
}

func (a *app) deploy(cmd *cobra.Command, dir string, o *deployOptions) error {
	ctx := cmd.Context()
	w := a.progress()
	if a.output != "table" && a.output != "json" {
		return fmt.Errorf("unknown output format %q: use table or json", a.output)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ns, name := o.fn.namespace, o.name
	if name == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		name = filepath.Base(abs)
	}
	if err := scf.ValidateFunctionName(name); err != nil {
		return errorf("name the function with --name", "%w", err)
	}
	if err := scf.ValidateNamespaceName(ns); err != nil {
		return err
	}
	if o.fn.image == "" && strings.ToLower(ns) != ns {
		return errorf("use a lower-case namespace, or deploy a built image with --image",
			"namespace %q has capital letters, which the name of the image cannot hold", ns)
	}
	res := DeployResult{Namespace: ns, FunctionName: name}

	cur, err := a.getFunction(cmd, ns, name)
	exists := err == nil
	if err != nil && !isCode(err, "ResourceNotFound.Namespace") && !isCode(err, "ResourceNotFound.Function") {
		return err
	}
	res.Created = !exists
	changed := cmd.Flags().Changed
	var cfg *api.UpdateFunctionConfigurationRequest

	uri := o.fn.image
	if uri == "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return errorf("give the directory of a Dockerfile, or an image with --image", "%s is not a directory", dir)
		}
		bo := buildOptions{dir: dir, dockerfile: o.dockerfile, buildArgs: o.buildArgs, registry: o.registry}
		tag, err := contentTag(bo)
		if err != nil {
			return err
		}
		uri = fmt.Sprintf("%s/%s/%s:%s", o.registry, ns, strings.ToLower(name), tag)
		if !exists || cur.ImageConfig == nil || cur.ImageConfig.ImageUri != uri || cur.Status != "Active" {
			if err := a.buildAndPush(ctx, bo, uri, w); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(w, "sources unchanged: %s/%s already runs %s\n", ns, name, uri)
		}
	}
	res.ImageUri = uri

	if !exists {
		err = a.create(ctx, c, o, ns, name, uri, w)
		res.Changed = true
	} else {
		cfg, res.Changed, err = a.update(ctx, c, o, changed, cur, uri, w)
	}
	if err != nil {
		return err
	}

	f, err := a.wait(ctx, ns, name, w)
	if err != nil {
		return err
	}
	res.Type, res.Status, res.ImageDigest = f.Type, f.Status, f.ImageDigest
	if exists && o.fn.image != "" && cfg == nil && cur.ImageConfig != nil && cur.ImageConfig.ImageUri == o.fn.image &&
		f.ImageDigest == cur.ImageDigest && cur.Status == "Active" && !changed("command") && !changed("args") {
		// The tag still names the image the function ran.
		res.Changed = false
	}
	if strings.HasSuffix(f.Status, "Failed") {
		reason := f.StatusDesc
		for _, r := range f.StatusReasons {
			reason = r.ErrorCode + ": " + r.ErrorMessage
		}
		return errorf("`scfd fn get "+name+" -n "+ns+"` shows the function", "%s/%s is %s: %s", ns, name, f.Status, reason)
	}
	if f.Type == "HTTP" {
		res.URL = fmt.Sprintf("%s://%s/%s/%s/", a.scheme(), o.gateway, ns, name)
	} else {
		res.Invoke = fmt.Sprintf("scfd invoke %s -n %s --event '{}'", name, ns)
	}
	if a.output == "json" {
		return a.printJSON(res)
	}
	switch {
	case !res.Changed && o.fn.image != "":
		fmt.Fprintf(a.out, "%s/%s: Active, unchanged: %s still names the image it ran (%s)\n", ns, name, uri, f.ImageDigest)
	case !res.Changed:
		fmt.Fprintf(a.out, "%s/%s: Active, unchanged (nothing to deploy)\n", ns, name)
	default:
		fmt.Fprintf(a.out, "%s/%s: %s (%s %s)\n", ns, name, f.Status, uri, f.ImageDigest)
	}
	for _, r := range f.StatusReasons {
		fmt.Fprintf(a.out, "  %s: %s\n", r.ErrorCode, r.ErrorMessage)
	}
	if res.URL != "" {
		fmt.Fprintf(a.out, "call it:   curl %s\n", res.URL)
	} else {
		fmt.Fprintf(a.out, "invoke it: %s\n", res.Invoke)
	}
	return nil
}

// create creates the function of uri (and its namespace when missing).
func (a *app) create(ctx context.Context, c *client.Client, o *deployOptions, ns, name, uri string, w io.Writer) error {
	env, err := o.fn.environment()
	if err != nil {
		return err
	}
	req := api.CreateFunctionRequest{
		FunctionName: name, Namespace: ns, Type: o.fn.typ,
		MemorySize: o.fn.memory, Timeout: o.fn.timeout, Description: o.fn.description, Environment: env,
		Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: uri, Command: o.fn.command, Args: o.fn.args}},
	}
	err = c.Call(ctx, "CreateFunction", req, nil)
	if isCode(err, "ResourceNotFound.Namespace") {
		if err := c.Call(ctx, "CreateNamespace", api.CreateNamespaceRequest{Namespace: ns}, nil); err != nil && !isCode(err, "ResourceInUse.Namespace") {
			return err
		}
		fmt.Fprintf(w, "created namespace %s\n", ns)
		err = c.Call(ctx, "CreateFunction", req, nil)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "creating %s/%s\n", ns, name)
	return nil
}

// update brings the existing function cur to uri and to the configuration
// flags given, calling only what changes them. cfg is the configuration
// change it made, or nil; did says whether it changed anything.
func (a *app) update(ctx context.Context, c *client.Client, o *deployOptions, changed func(string) bool, cur *api.GetFunctionResponse, uri string, w io.Writer) (cfg *api.UpdateFunctionConfigurationRequest, did bool, err error) {
	ns, name := cur.Namespace, cur.FunctionName
	if changed("type") && !strings.EqualFold(o.fn.typ, cur.Type) {
		return nil, false, errorf("delete it first (`scfd fn rm`) or deploy under another --name",
			"%s/%s is a function of type %s; a type cannot change", ns, name, cur.Type)
	}
	if cfg, err = configChanges(&o.fn, changed, name, ns, cur); err != nil {
		return nil, false, err
	}
	if cfg != nil {
		if err := c.Call(ctx, "UpdateFunctionConfiguration", cfg, nil); err != nil {
			return nil, false, err
		}
		fmt.Fprintf(w, "updated the configuration of %s/%s\n", ns, name)
	}
	ic := api.ImageConfig{ImageType: "personal"}
	if cur.ImageConfig != nil {
		ic = *cur.ImageConfig
	}
	before := ic
	ic.ImageUri = uri
	if changed("command") {
		ic.Command = o.fn.command
	}
	if changed("args") {
		ic.Args = o.fn.args
	}
	// A tag given with --image may have moved: the server resolves it
	// again. A content tag cannot have.
	if ic == before && cur.Status == "Active" && (o.fn.image == "" || strings.Contains(uri, "@sha256:")) {
		return cfg, cfg != nil, nil
	}
	if cfg != nil {
		// The configuration change settles first: a function that is
		// Updating takes no new code.
		if _, err := a.wait(ctx, ns, name, io.Discard); err != nil {
			return nil, true, err
		}
	}
	req := api.UpdateFunctionCodeRequest{FunctionName: name, Namespace: ns, Code: &api.Code{ImageConfig: &ic}}
	if err := c.Call(ctx, "UpdateFunctionCode", req, nil); err != nil {
		return nil, cfg != nil, err
	}
	fmt.Fprintf(w, "updating %s/%s to %s\n", ns, name, uri)
	return cfg, true, nil
}

// buildAndPush builds the sources of bo and pushes the image as uri.
// Nothing reaches the server but the image's blobs and its tag.
func (a *app) buildAndPush(ctx context.Context, bo buildOptions, uri string, w io.Writer) error {
	tmp, err := os.MkdirTemp("", "scfd-deploy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(w, "building %s (buildah, linux/amd64)\n", bo.file())
	// One local name per function: an earlier build of it becomes
	// dangling, for `buildah rmi --prune`.
	_, repo, _ := strings.Cut(uri, "/")
	repo, _, _ = strings.Cut(repo, ":")
	img, err := a.build(ctx, bo, "localhost/scfd-deploy/"+repo+":latest", tmp, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "pushing %s\n", uri)
	_, err = a.push(ctx, img, uri, bo.registry, w)
	return err
}

// configChanges is the UpdateFunctionConfiguration of the flags given
// whose values differ from the function's, or nil.
func configChanges(f *functionFlags, changed func(string) bool, name, ns string, cur *api.GetFunctionResponse) (*api.UpdateFunctionConfigurationRequest, error) {
	req := &api.UpdateFunctionConfigurationRequest{FunctionName: name, Namespace: ns}
	some := false
	if changed("memory") && f.memory != cur.MemorySize {
		req.MemorySize, some = &f.memory, true
	}
	if changed("timeout") && f.timeout != cur.Timeout {
		req.Timeout, some = &f.timeout, true
	}
	if changed("description") && f.description != cur.Description {
		req.Description, some = &f.description, true
	}
	if changed("env") {
		env, err := f.environment()
		if err != nil {
			return nil, err
		}
		if !slices.Equal(env.Variables, cur.Environment.Variables) {
			req.Environment, some = env, true
		}
	}
	if !some {
		return nil, nil
	}
	return req, nil
}

// wait polls the function until it is no longer Creating or Updating,
// printing each change of its status and progress to w. Interrupted, it
// says that the server goes on.
func (a *app) wait(ctx context.Context, ns, name string, w io.Writer) (*api.GetFunctionResponse, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var last string
	for {
		var f api.GetFunctionResponse
		err := c.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: name, Namespace: ns}, &f)
		if err != nil {
			if ctx.Err() != nil {
				return nil, interrupted(ns, name, last)
			}
			return nil, err
		}
		now := f.Status
		if f.StatusDesc != "" {
			now += ": " + f.StatusDesc
		}
		if now != last && (f.Status == "Creating" || f.Status == "Updating") {
			fmt.Fprintf(w, "   %s\n", now)
		}
		last = now
		if f.Status != "Creating" && f.Status != "Updating" {
			return &f, nil
		}
		select {
		case <-ctx.Done():
			return nil, interrupted(ns, name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func interrupted(ns, name, status string) error {
	return errorf(fmt.Sprintf("`scfd fn get %s -n %s` shows where it stands", name, ns),
		"interrupted while %s/%s was %s; the server finishes the deploy on its own", ns, name, or(status, "settling"))
}
