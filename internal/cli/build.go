package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildOptions say what `scfd deploy` builds and how.
type buildOptions struct {
	dir        string   // the build context
	dockerfile string   // the Dockerfile; "" is DIR/Dockerfile
	buildArgs  []string // --build-arg K=V
	registry   string   // scfd's registry, which FROM may name
}

func (o buildOptions) file() string {
	if o.dockerfile != "" {
		return o.dockerfile
	}
	return filepath.Join(o.dir, "Dockerfile")
}

// contentTag is the image tag of a build: the first 16 hex digits of a
// SHA-256 over every file of the context that the build sees (name, mode,
// contents; not what .containerignore or .dockerignore exclude, nor .git
// directories), the Dockerfile, the build arguments and the platform. The
// same sources give the same tag, so a deploy of unchanged sources can
// tell without building.
func contentTag(o buildOptions) (string, error) {
	ignored, err := ignores(o.dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "scfd build 1\nplatform linux/amd64\n")
	args := append([]string(nil), o.buildArgs...)
	sort.Strings(args)
	for _, a := range args {
		fmt.Fprintf(h, "arg %q\n", a)
	}
	df, err := os.ReadFile(o.file())
	if err != nil {
		return "", errorf("write a Dockerfile there, or name one with --file", "reading the Dockerfile: %w", err)
	}
	fmt.Fprintf(h, "dockerfile %d\n", len(df))
	h.Write(df)
	err = filepath.WalkDir(o.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(o.dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if skip, err := ignored.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil {
			return err
		} else if skip && rel != "." {
			if d.IsDir() && !ignored.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %v", filepath.ToSlash(rel), info.Mode())
		switch {
		case info.Mode().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " %d\n", info.Size())
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " -> %q", target)
		}
		fmt.Fprintln(h)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the build context %s: %w", o.dir, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ignores reads the patterns of DIR/.containerignore, else
// DIR/.dockerignore, as buildah does.
func ignores(dir string) (*patternmatcher.PatternMatcher, error) {
	var patterns []string
	for _, name := range []string{".containerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		break
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, errorf("fix the ignore file's patterns", "the ignore file of %s: %w", dir, err)
	}
	return pm, nil
}

// buildahNoise are lines of buildah's output that say nothing to a
// person deploying.
var buildahNoise = []string{
	"Getting image source signatures",
	"Copying blob ",
	"Copying config ",
	"Writing manifest to image destination",
	"Storing signatures",
	"build args were not consumed: [TARGETARCH TARGETOS TARGETPLATFORM]",
}

// build runs `buildah build` on o for linux/amd64, tags the result
// localName in buildah's storage, and reads it back as an OCI layout
// under tmp (a scratch directory the caller removes). buildah's output
// goes to progress, indented. FROM may name images in scfd's registry:
// buildah gets the key for it and reaches it over plain HTTP, or over
// HTTPS trusting the CLI's authorities (--ca-file) when the CLI speaks
// HTTPS to scfd.
//
// buildah runs with its own configuration (storage, registries); its
// RUN steps are isolated with chroot unless BUILDAH_ISOLATION says
// otherwise, which works on hosts without a full runc set-up too.
func (a *app) build(ctx context.Context, o buildOptions, localName, tmp string, progress io.Writer) (*localImage, error) {
	if _, err := exec.LookPath("buildah"); err != nil {
		return nil, errorf("install it (apt-get install buildah, or scripts/deps.sh), or deploy a built image with --image",
			"building needs buildah, which is not installed")
	}
	key, err := a.key()
	if err != nil {
		return nil, err
	}
	auth := map[string]any{"auths": map[string]any{
		o.registry: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(key.SecretID + ":" + key.SecretKey))},
	}}
	authFile := filepath.Join(tmp, "auth.json")
	b, _ := json.Marshal(auth)
	if err := os.WriteFile(authFile, b, 0o600); err != nil {
		return nil, err
	}
	env := os.Environ()
	secure := a.scheme() == "https"
	if os.Getenv("CONTAINERS_REGISTRIES_CONF") == "" && !secure {
		// The system's registries, and scfd's over plain HTTP.
		conf, _ := os.ReadFile("/etc/containers/registries.conf")
		conf = fmt.Appendf(conf, "\n[[registry]]\nlocation = %q\ninsecure = true\n", o.registry)
		p := filepath.Join(tmp, "registries.conf")
		if err := os.WriteFile(p, conf, 0o600); err != nil {
			return nil, err
		}
		env = append(env, "CONTAINERS_REGISTRIES_CONF="+p)
	}
	args := []string{"build", "--platform", "linux/amd64", "--layers", "--force-rm", "--authfile", authFile, "-f", o.file(), "-t", localName}
	if os.Getenv("BUILDAH_ISOLATION") == "" {
		args = append(args, "--isolation", "chroot")
	}
	if ca := a.caFile(); secure && ca != "" {
		// buildah trusts the *.crt of --cert-dir besides the system's.
		certs := filepath.Join(tmp, "certs")
		data, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(certs, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(certs, "ca.crt"), data, 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--cert-dir", certs)
	}
	for _, ba := range o.buildArgs {
		args = append(args, "--build-arg", ba)
	}
	args = append(args, o.dir)
	if err := runBuildah(ctx, env, args, progress); err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "oci")
	c := exec.CommandContext(ctx, "buildah", "push", "--quiet", localName, "oci:"+dir+":latest")
	c.Env = env
	interruptible(c)
	if out, err := c.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("reading the built image out of buildah's storage: %s", lastLine(string(out), err))
	}
	return openLayout(dir, "")
}

// runBuildah runs buildah with args, copying its output to progress as it
// comes; a failure is one line saying why.
func runBuildah(ctx context.Context, env, args []string, progress io.Writer) error {
	c := exec.CommandContext(ctx, "buildah", args...)
	c.Env = env
	// buildah's own SIGINT handling leaves its build containers and the
	// process of a RUN step behind. Instead, the build's processes are
	// killed: the step fails, and buildah (--force-rm) removes its
	// containers and exits. A buildah with no process under it (pulling
	// a base image) gets SIGINT; whatever still runs 20 s later, SIGKILL.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		if killGroup(c.Process.Pid, c.Process.Pid) == 0 {
			return c.Process.Signal(os.Interrupt)
		}
		return nil
	}
	c.WaitDelay = 20 * time.Second
	defer func() {
		if c.Process != nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}()
	pr, pw := io.Pipe()
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting buildah: %w", err)
	}
	builds.Store(c.Process.Pid, struct{}{})
	defer builds.Delete(c.Process.Pid)
	var tail []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 64<<10), 1<<20)
	lines:
		for s.Scan() {
			line := s.Text()
			if imageID.MatchString(line) {
				continue
			}
			for _, n := range buildahNoise {
				if strings.Contains(line, n) {
					continue lines
				}
			}
			if tail = append(tail, line); len(tail) > 50 {
				tail = tail[1:]
			}
			fmt.Fprintf(progress, "   %s\n", line)
		}
		io.Copy(io.Discard, pr)
	}()
	err := c.Wait()
	pw.Close()
	<-scanned
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the build was interrupted (buildah removed its build containers): %w", ctx.Err())
	}
	return buildFailure(tail, err)
}

// builds holds the process groups of the builds running, by their
// buildah's pid.
var builds sync.Map

// killBuilds kills every build running, for a CLI made to exit at once.
func killBuilds() {
	builds.Range(func(pgid, _ any) bool {
		syscall.Kill(-pgid.(int), syscall.SIGKILL)
		return true
	})
}

// killGroup sends SIGKILL to the processes of process group pgid but
// spare, and says how many it found.
func killGroup(pgid, spare int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == spare {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n
}

var (
	imageID     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	unreachable = regexp.MustCompile(`pinging container registry ([^: ]+(?::[0-9]+)?)|lookup ([^ ]+)( on [^ ]+)?: no such host|docker://([^/]+)/`)
	netFailure  = regexp.MustCompile(`dial tcp|no such host|connection refused|i/o timeout|network is unreachable|no route to host|TLS handshake|server gave HTTP response to HTTPS client`)
)

// buildFailure turns the end of a failed build's output into one line:
// a registry that could not be reached is named as such.
func buildFailure(tail []string, err error) error {
	msg := ""
	for i := len(tail) - 1; i >= 0 && msg == ""; i-- {
		if m, ok := strings.CutPrefix(strings.TrimSpace(tail[i]), "Error: "); ok {
			msg = m
		}
	}
	if msg == "" {
		msg = lastLine(strings.Join(tail, "\n"), err)
	}
	if netFailure.MatchString(msg) {
		host := "a registry"
		if m := unreachable.FindStringSubmatch(msg); m != nil {
			for _, h := range m[1:] {
				if h != "" && !strings.HasPrefix(h, " on ") {
					host = "the registry " + h
					break
				}
			}
		}
		return errorf("name a base image in scfd's registry (push it there with `scfd push`), or start FROM scratch",
			"the build failed: %s, named in FROM, cannot be reached from this machine (%s)", host, msg)
	}
	if strings.Contains(msg, "short-name") {
		return errorf("name the base image in full (docker.io/library/golang:1.26); if this machine reaches no public registry, push the base image to scfd's registry with `scfd push` and name it there",
			"the build failed: %s", msg)
	}
	return errorf("the build's output above says more", "the build failed: %s", msg)
}
