package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scfd/scfd/internal/api"
)

// functionFlags are the flags create and update share.
type functionFlags struct {
	namespace, image, typ, command, args, description string
	memory, timeout                                   int64
	env                                               []string
	wait                                              bool
}

func (f *functionFlags) register(fs *pflag.FlagSet, create bool) {
	fs.StringVar(&f.image, "image", "", "image URI: host[:port]/repo[:tag][@sha256:...]")
	fs.Int64Var(&f.memory, "memory", 0, "memory in MB: 64, or 128 to 3072 in steps of 128 (default 128)")
	fs.Int64Var(&f.timeout, "timeout", 0, "timeout in seconds, 1 to 900 (default 3)")
	fs.StringArrayVar(&f.env, "env", nil, "environment variable K=V (repeatable; on update, replaces them all)")
	fs.StringVar(&f.command, "command", "", "replaces the image's entrypoint (shell-like quoting)")
	fs.StringVar(&f.args, "args", "", "replaces the image's command (shell-like quoting)")
	fs.StringVar(&f.description, "description", "", "description")
	if create {
		fs.StringVar(&f.typ, "type", "Event", "function type: Event or HTTP")
	}
}

func (f *functionFlags) environment() (*api.Environment, error) {
	env := &api.Environment{Variables: []api.Variable{}}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--env %q: want K=V", kv)
		}
		env.Variables = append(env.Variables, api.Variable{Key: k, Value: v})
	}
	return env, nil
}

func (a *app) functionCmd() *cobra.Command {
	fn := &cobra.Command{Use: "fn", Aliases: []string{"function"}, Short: "Manage functions"}
	var namespace string
	fn.PersistentFlags().StringVarP(&namespace, "namespace", "n", "default", "namespace")
	a.completeNamespaceFlag(fn, "namespace")

	var cf functionFlags
	create := &cobra.Command{
		Use: "create NAME --image URI", Short: "Create a function from an image", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cf.image == "" {
				return fmt.Errorf("--image is required")
			}
			env, err := cf.environment()
			if err != nil {
				return err
			}
			req := api.CreateFunctionRequest{
				FunctionName: args[0], Namespace: namespace, Type: cf.typ,
				MemorySize: cf.memory, Timeout: cf.timeout, Description: cf.description, Environment: env,
				Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: cf.image, Command: cf.command, Args: cf.args}},
			}
			var resp struct{ RequestId string }
			if err := a.call(cmd, "CreateFunction", req, &resp, nil); err != nil {
				return err
			}
			return a.finish(cmd, namespace, args[0], cf.wait)
		},
	}
	cf.register(create.Flags(), true)
	create.Flags().BoolVar(&cf.wait, "wait", false, "wait until the image is pulled and the function is Active or failed")

	var uf functionFlags
	update := &cobra.Command{
		Use: "update NAME", Short: "Change a function's image or configuration", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			var resp struct{ RequestId string }
			if changed("memory") || changed("timeout") || changed("env") || changed("description") {
				req := api.UpdateFunctionConfigurationRequest{FunctionName: args[0], Namespace: namespace}
				if changed("memory") {
					req.MemorySize = &uf.memory
				}
				if changed("timeout") {
					req.Timeout = &uf.timeout
				}
				if changed("description") {
					req.Description = &uf.description
				}
				if changed("env") {
					env, err := uf.environment()
					if err != nil {
						return err
					}
					req.Environment = env
				}
				if err := a.call(cmd, "UpdateFunctionConfiguration", req, &resp, nil); err != nil {
					return err
				}
			}
			if changed("image") || changed("command") || changed("args") {
				cur, err := a.getFunction(cmd, namespace, args[0])
				if err != nil {
					return err
				}
				ic := api.ImageConfig{ImageType: "personal"}
				if cur.ImageConfig != nil {
					ic = *cur.ImageConfig
				}
				if changed("image") {
					ic.ImageUri = uf.image
				}
				if changed("command") {
					ic.Command = uf.command
				}
				if changed("args") {
					ic.Args = uf.args
				}
				req := api.UpdateFunctionCodeRequest{FunctionName: args[0], Namespace: namespace, Code: &api.Code{ImageConfig: &ic}}
				if err := a.call(cmd, "UpdateFunctionCode", req, &resp, nil); err != nil {
					return err
				}
			}
			return a.finish(cmd, namespace, args[0], uf.wait)
		},
	}
	uf.register(update.Flags(), false)
	update.Flags().BoolVar(&uf.wait, "wait", false, "wait until the image is pulled and the function is Active or failed")

	var search string
	ls := &cobra.Command{
		Use: "ls", Aliases: []string{"list"}, Short: "List functions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp api.ListFunctionsResponse
			req := api.ListFunctionsRequest{Namespace: namespace, SearchKey: search, Limit: 1000, Orderby: "FunctionName", Order: "ASC"}
			return a.call(cmd, "ListFunctions", req, &resp, func(w *tabwriter.Writer) {
				row(w, "NAME", "TYPE", "STATUS", "DESCRIPTION", "MODIFIED")
				for _, f := range resp.Functions {
					row(w, f.FunctionName, f.Type, f.Status, f.Description, f.ModTime)
				}
			})
		},
	}
	ls.Flags().StringVar(&search, "search", "", "only functions whose name contains this")

	get := &cobra.Command{
		Use: "get NAME", Short: "Show a function", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp api.GetFunctionResponse
			req := api.GetFunctionRequest{FunctionName: args[0], Namespace: namespace}
			return a.call(cmd, "GetFunction", req, &resp, func(w *tabwriter.Writer) { printFunction(w, &resp) })
		},
	}

	rm := &cobra.Command{
		Use: "rm NAME", Aliases: []string{"delete"}, Short: "Delete a function", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct{ RequestId string }
			return a.call(cmd, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: args[0], Namespace: namespace}, &resp, nil)
		},
	}
	for _, c := range []*cobra.Command{get, update, rm} {
		c.ValidArgsFunction = a.completeFunction
	}
	fn.AddCommand(create, ls, get, update, rm, a.instancesCmd(&namespace))
	return fn
}

func (a *app) getFunction(cmd *cobra.Command, namespace, name string) (*api.GetFunctionResponse, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var resp api.GetFunctionResponse
	err = c.Call(cmd.Context(), "GetFunction", api.GetFunctionRequest{FunctionName: name, Namespace: namespace}, &resp)
	return &resp, err
}

// finish waits for the function to settle when asked to, then says where
// it stands (tables only).
func (a *app) finish(cmd *cobra.Command, namespace, name string, wait bool) error {
	var f *api.GetFunctionResponse
	var err error
	for {
		if f, err = a.getFunction(cmd, namespace, name); err != nil {
			return err
		}
		if !wait || (f.Status != "Creating" && f.Status != "Updating") {
			break
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if a.output == "table" {
		fmt.Fprintf(a.out, "%s/%s: %s", namespace, name, f.Status)
		if f.StatusDesc != "" {
			fmt.Fprintf(a.out, " (%s)", f.StatusDesc)
		}
		fmt.Fprintln(a.out)
		for _, r := range f.StatusReasons {
			fmt.Fprintf(a.out, "  %s: %s\n", r.ErrorCode, r.ErrorMessage)
		}
	}
	if wait && strings.HasSuffix(f.Status, "Failed") {
		return fmt.Errorf("%s/%s is %s", namespace, name, f.Status)
	}
	return nil
}

func printFunction(w *tabwriter.Writer, f *api.GetFunctionResponse) {
	row(w, "Name:", f.FunctionName)
	row(w, "Namespace:", f.Namespace)
	row(w, "Version:", f.FunctionVersion)
	row(w, "Type:", f.Type)
	status := f.Status
	if f.StatusDesc != "" {
		status += " (" + f.StatusDesc + ")"
	}
	row(w, "Status:", status)
	for _, r := range f.StatusReasons {
		row(w, "", r.ErrorCode+": "+r.ErrorMessage)
	}
	if ic := f.ImageConfig; ic != nil {
		row(w, "Image:", ic.ImageUri)
		if ic.Command != "" {
			row(w, "Command:", ic.Command)
		}
		if ic.Args != "" {
			row(w, "Args:", ic.Args)
		}
	}
	row(w, "Memory:", fmt.Sprintf("%d MB", f.MemorySize))
	row(w, "Timeout:", fmt.Sprintf("%d s", f.Timeout))
	if f.Description != "" {
		row(w, "Description:", f.Description)
	}
	for _, v := range f.Environment.Variables {
		row(w, "Env:", v.Key+"="+v.Value)
	}
	row(w, "Created:", f.AddTime)
	row(w, "Modified:", f.ModTime)
}
