package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/scfd/scfd/internal/config"
)

// A local image source of `scfd push`: SOURCE with an optional transport
// prefix, as skopeo spells them.
const (
	srcOCI     = "oci:"                // an OCI image layout directory, oci:DIR[:REF]
	srcArchive = "docker-archive:"     // a `docker save` (or `podman save`) archive
	srcStorage = "containers-storage:" // an image in buildah's and podman's local storage
)

// refNameAnnotation names an image of an OCI layout.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// localImage is an image read from a local source: one image, or an
// index (pushed as it is; scfd picks its linux/amd64 entry).
type localImage struct {
	img v1.Image
	idx v1.ImageIndex
	// name is the source's own name for it ("team/app:1"), if it has one.
	name string
}

func (a *app) pushCmd() *cobra.Command {
	var registryAddr string
	cmd := &cobra.Command{
		Use:   "push SOURCE [NAMESPACE/REPO[:TAG]]",
		Short: "Push a local image to scfd's registry, without Docker",
		Long: "Push copies an image to scfd's embedded registry with the CLI's key. SOURCE is\n" +
			"  an OCI image layout directory (DIR, or oci:DIR[:REF] for one of several images),\n" +
			"  a `docker save` or `podman save` archive (FILE, or docker-archive:FILE),\n" +
			"  an image in buildah's or podman's local storage (NAME, or containers-storage:NAME).\n" +
			"The destination defaults to the source's own name without its registry host; a\n" +
			"destination without a host goes to scfd's registry (--registry).",
		Example: "  scfd push ./app-oci team/app:1\n  scfd push app.tar team/app:1\n  scfd push localhost/team/app:1",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tmp, err := os.MkdirTemp("", "scfd-push-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			src, err := openImage(ctx, args[0], tmp)
			if err != nil {
				return err
			}
			dest := src.name
			if len(args) == 2 {
				dest = args[1]
			}
			if dest == "" {
				return errorf("name it: scfd push SOURCE NAMESPACE/REPO:TAG", "%s carries no image name", args[0])
			}
			uri, err := a.push(ctx, src, destination(dest, registryAddr), registryAddr, a.progress())
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.printJSON(struct{ ImageUri string }{uri})
			}
			fmt.Fprintf(a.out, "pushed %s\n", uri)
			return nil
		},
	}
	cmd.Flags().StringVar(&registryAddr, "registry", a.registryAddr(), "scfd's registry [SCFD_REGISTRY_ADDR]")
	return cmd
}

func (a *app) registryAddr() string {
	return or(a.getenv("SCFD_REGISTRY_ADDR"), config.DefaultRegistryAddr)
}

// progress is where long commands say how far they are: the output,
// unless it carries JSON.
func (a *app) progress() io.Writer {
	if a.output == "json" {
		return a.errOut
	}
	return a.out
}

// destination puts ref in registry unless it names a registry host of
// its own (a first component with a dot or a colon, or "localhost").
func destination(ref, registry string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return ref
	}
	return registry + "/" + ref
}

// stripHost drops a registry host from an image name: "localhost/team/app:1"
// and "docker.io/team/app:1" become "team/app:1".
func stripHost(ref string) string {
	first, rest, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return rest
	}
	return ref
}

// openImage reads the image SOURCE names; tmp is a scratch directory the
// caller removes.
func openImage(ctx context.Context, source, tmp string) (*localImage, error) {
	switch {
	case strings.HasPrefix(source, srcOCI):
		dir, ref, _ := strings.Cut(strings.TrimPrefix(source, srcOCI), ":")
		return openLayout(dir, ref)
	case strings.HasPrefix(source, srcArchive):
		return openArchive(strings.TrimPrefix(source, srcArchive))
	case strings.HasPrefix(source, srcStorage):
		return openStorage(ctx, strings.TrimPrefix(source, srcStorage), tmp)
	}
	st, err := os.Stat(source)
	switch {
	case err == nil && st.IsDir():
		return openLayout(source, "")
	case err == nil:
		return openArchive(source)
	}
	return openStorage(ctx, source, tmp)
}

// openLayout reads an OCI image layout: its only image (or index), or the
// one whose org.opencontainers.image.ref.name is ref.
func openLayout(dir, ref string) (*localImage, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, errorf("give an OCI image layout directory (buildah push IMAGE oci:DIR makes one)", "%s is not an OCI image layout", dir)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s: %w", dir, err)
	}
	var picked []v1.Descriptor
	for _, d := range m.Manifests {
		if ref == "" || d.Annotations[refNameAnnotation] == ref {
			picked = append(picked, d)
		}
	}
	switch {
	case len(picked) == 0 && ref != "":
		return nil, fmt.Errorf("the OCI layout %s has no image named %q", dir, ref)
	case len(picked) == 0:
		return nil, fmt.Errorf("the OCI layout %s holds no image", dir)
	case len(picked) > 1:
		return nil, errorf("name one with oci:DIR:REF", "the OCI layout %s holds %d images", dir, len(picked))
	}
	d := picked[0]
	out := &localImage{}
	if n := d.Annotations[refNameAnnotation]; strings.Contains(n, "/") {
		out.name = stripHost(n)
	}
	if d.MediaType.IsIndex() {
		out.idx, err = idx.ImageIndex(d.Digest)
	} else {
		out.img, err = idx.Image(d.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s: %w", dir, err)
	}
	return out, nil
}

// openArchive reads a `docker save` archive holding one image.
func openArchive(file string) (*localImage, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, errorf("give a `docker save` or `podman save` archive, an OCI layout directory or an image in local storage",
			"%s is not an image archive: %w", file, err)
	}
	if len(m) != 1 {
		return nil, errorf("save one image per archive", "%s holds %d images", file, len(m))
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	out := &localImage{img: img}
	if len(m[0].RepoTags) > 0 {
		out.name = stripHost(m[0].RepoTags[0])
	}
	return out, nil
}

// openStorage copies an image out of buildah's and podman's storage (the
// one buildah's own configuration names) into an OCI layout under tmp.
func openStorage(ctx context.Context, image, tmp string) (*localImage, error) {
	if _, err := exec.LookPath("buildah"); err != nil {
		return nil, errorf("install buildah (apt-get install buildah), or give an OCI layout directory or a `docker save` archive",
			"%s is neither a file nor a directory, and buildah, which reads local image storage, is not installed", image)
	}
	dir := filepath.Join(tmp, "oci")
	c := exec.CommandContext(ctx, "buildah", "push", "--quiet", image, "oci:"+dir+":latest")
	interruptible(c)
	if out, err := c.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errorf("`buildah images` lists the images in local storage",
			"reading %s from local image storage: %s", image, lastLine(string(out), err))
	}
	src, err := openLayout(dir, "")
	if err != nil {
		return nil, err
	}
	if strings.Contains(image, "/") && !strings.HasPrefix(image, "sha256:") {
		src.name = stripHost(image)
	}
	return src, nil
}

// interruptible makes a cancelled command get SIGINT, as from a terminal,
// so that buildah removes what it made, then SIGKILL 30 s later.
func interruptible(c *exec.Cmd) {
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	c.WaitDelay = 30 * time.Second
}

// lastLine is the last line of a command's output that says something,
// else err.
func lastLine(out string, err error) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return strings.TrimPrefix(l, "Error: ")
		}
	}
	return err.Error()
}

// push writes src to ref (host/namespace/repo[:tag]) and returns the
// pushed URI by tag. To scfd's registry (scfdRegistry, or any registry on
// loopback) it goes with the CLI's key, over HTTPS trusting --ca-file when
// the registry speaks it, else over HTTP; elsewhere with Docker's
// keychain. progress gets a line now and then with the bytes sent.
func (a *app) push(ctx context.Context, src *localImage, ref, scfdRegistry string, progress io.Writer) (string, error) {
	first, _, _ := strings.Cut(ref, "/")
	ours := first == scfdRegistry || isLoopback(first)
	var opt []name.Option
	if ours {
		opt = append(opt, name.Insecure)
	}
	r, err := name.ParseReference(ref, opt...)
	if err != nil {
		return "", errorf("name it as NAMESPACE/REPO:TAG", "image name %q: %w", ref, err)
	}
	if _, ok := r.(name.Tag); !ok {
		return "", errorf("name it as NAMESPACE/REPO:TAG", "image name %q: push by tag, not by digest", ref)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if ours {
		key, err := a.key()
		if err != nil {
			return "", err
		}
		t, err := a.transport()
		if err != nil {
			return "", err
		}
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: key.SecretID, Password: key.SecretKey}), remote.WithTransport(t))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	updates := make(chan v1.Update, 16)
	opts = append(opts, remote.WithProgress(updates))
	done := make(chan struct{})
	go func() {
		defer close(done)
		reportPush(progress, r.String(), updates)
	}()
	if src.idx != nil {
		err = remote.WriteIndex(r, src.idx, opts...)
	} else {
		err = remote.Write(r, src.img, opts...)
	}
	select {
	case <-done:
	case <-time.After(time.Second): // remote failed before it took the channel
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("the push of %s was interrupted; nothing was tagged (`scfd registry gc` collects the blobs already sent): %w", r, ctx.Err())
		}
		if ours {
			return "", errorf("is `scfd serve` running with its registry there (--registry, SCFD_REGISTRY_ADDR)?", "push %s: %w", r, err)
		}
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	return r.String(), nil
}

// isLoopback says whether host:port is on this machine, where scfd's
// registry usually is.
func isLoopback(host string) bool {
	h, _, _ := strings.Cut(host, ":")
	return h == "127.0.0.1" || h == "localhost" || h == "[::1]"
}

// reportPush prints the bytes sent, at most once a second and at the end,
// until updates is closed.
func reportPush(w io.Writer, ref string, updates <-chan v1.Update) {
	var last time.Time
	var u v1.Update
	for next := range updates {
		if next.Error != nil {
			continue
		}
		u = next
		if now := time.Now(); now.Sub(last) >= time.Second && u.Complete < u.Total {
			last = now
			fmt.Fprintf(w, "   pushing %s: %s of %s\n", ref, humanBytes(u.Complete), humanBytes(u.Total))
		}
	}
	if u.Total > 0 {
		fmt.Fprintf(w, "   pushed %s: %s\n", ref, humanBytes(u.Total))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
