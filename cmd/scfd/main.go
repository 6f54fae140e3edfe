// Command scfd runs container images as serverless functions, compatible
// with Tencent Cloud SCF's image-based functions. `scfd serve` runs the
// platform; the other commands are a client of its API.
package main

import (
	"context"
	"os"

	"github.com/scfd/scfd/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:]))
}
