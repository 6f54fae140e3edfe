// Command pause is the Pod sandbox process of the test cluster: it sleeps
// until a signal ends it and reaps orphans meanwhile. With -image it
// instead writes a Docker image archive holding itself as /pause, for
// `ctr images import`, so the cluster needs no registry for its sandbox
// image.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/scfd/scfd/test/k8s/imagetar"
)

func main() {
	image := flag.String("image", "", "write an image archive of this binary to `file` and exit")
	tag := flag.String("tag", "scfd-k8s.local/pause:1", "the archive's image tag")
	flag.Parse()
	if *image != "" {
		if err := writeImage(*image, *tag); err != nil {
			log.Fatal(err)
		}
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

func writeImage(path, tag string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	return imagetar.Write(path, tag, "pause", bin)
}
