package sandbox

import (
	"regexp"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Account is who runs the functions: it fills the built-in variables.
type Account struct {
	Region string // TENCENTCLOUD_REGION
	AppID  string // TENCENTCLOUD_APPID
	UIN    string // TENCENTCLOUD_UIN
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$`)

// ValidateID reports whether id is usable as an instance id.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return errdefs.Invalid("InstanceId", "instance id %q: want 1-48 letters, digits, '-' or '_'", id)
	}
	return nil
}

// Argv returns the process arguments of spec: Command replaces the image's
// Entrypoint and Args replaces its Cmd, each split with scf.SplitCommand.
// A Command without Args keeps the image's Cmd as its arguments (SCF: an
// empty Args means the image's CMD).
func Argv(spec Spec) ([]string, error) {
	entry, cmd := spec.Image.Entrypoint, spec.Image.Cmd
	w, err := scf.SplitCommand("Command", spec.Command)
	if err != nil {
		return nil, err
	}
	if w != nil {
		entry = w
	}
	if w, err = scf.SplitCommand("Args", spec.Args); err != nil {
		return nil, err
	}
	if w != nil {
		cmd = w
	}
	argv := append(append([]string{}, entry...), cmd...)
	if len(argv) == 0 {
		return nil, errdefs.Invalid("Command", "the image has no entrypoint or command and none is configured")
	}
	return argv, nil
}

// Environ returns the environment of spec's process: the image's Env, then
// the function's variables, then the built-in SCF variables, each later
// one replacing an earlier one of the same name. Order is kept: a variable
// stays where it first appeared.
func Environ(spec Spec, acct Account) []string {
	version := spec.Version
	if version == "" {
		version = scf.Latest
	}
	var keys []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	for _, kv := range spec.Image.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, v := range spec.Env {
		set(v.Key, v.Value)
	}
	for _, kv := range BuiltinEnv(spec.Function, version, acct) {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + vals[k]
	}
	return out
}

// BuiltinEnv is SCF's fixed environment of an image function.
func BuiltinEnv(function, version string, acct Account) []string {
	return []string{
		"TENCENTCLOUD_RUNENV=SCF",
		"USER_CODE_ROOT=/var/user/",
		"USER=qcloud",
		"SCF_FUNCTIONNAME=" + function,
		"SCF_FUNCTIONVERSION=" + version,
		"TENCENTCLOUD_REGION=" + acct.Region,
		"TENCENTCLOUD_APPID=" + acct.AppID,
		"TENCENTCLOUD_UIN=" + acct.UIN,
	}
}
