package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/scfd/scfd/internal/scf"
)

// Defaults of the bounds on hostile images.
const (
	// DefaultMaxUnpackedBytes bounds the file content one image unpacks
	// to: four times SCF's 1 GiB limit on the compressed image.
	DefaultMaxUnpackedBytes = 4 * scf.MaxImageBytes
	// DefaultMaxFiles bounds the entries (files, directories, links) of
	// one image's layers together.
	DefaultMaxFiles = 1_000_000
	// DefaultReadTimeout is how long a registry may send nothing while a
	// manifest, config or layer is being fetched.
	DefaultReadTimeout = 30 * time.Second
	// maxConfigBytes bounds an image config blob, read into memory.
	maxConfigBytes = 8 << 20
)

// errStalled is the cause of a fetch cancelled because the registry sent
// nothing for Options.ReadTimeout.
var errStalled = errors.New("registry stalled")

// budget is what one image may still unpack to: bytes of file content and
// entries, shared by its layers.
type budget struct {
	bytes, files       atomic.Int64
	maxBytes, maxFiles int64
}

func newBudget(maxBytes, maxFiles int64) *budget {
	b := &budget{maxBytes: maxBytes, maxFiles: maxFiles}
	b.bytes.Store(maxBytes)
	b.files.Store(maxFiles)
	return b
}

// take spends one entry of size bytes; false once the image is past
// either bound.
func (b *budget) take(size int64) bool {
	if size < 0 {
		return false
	}
	return b.files.Add(-1) >= 0 && b.bytes.Add(-size) >= 0
}

// sumBelow adds the sizes, false when one is negative or the sum reaches
// limit; it cannot overflow (the sizes come from an untrusted manifest).
func sumBelow(limit int64, sizes ...int64) (int64, bool) {
	var sum int64
	for _, s := range sizes {
		if s < 0 || s >= limit-sum {
			return 0, false
		}
		sum += s
	}
	return sum, true
}

// watchdog cancels its context when no progress was reported for timeout.
type watchdog struct {
	timer   *time.Timer
	timeout time.Duration
}

// withWatchdog returns a context cancelled with errStalled once timeout
// passes without a call to kick; stop releases it.
func withWatchdog(ctx context.Context, timeout time.Duration) (context.Context, *watchdog, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{timeout: timeout}
	w.timer = time.AfterFunc(timeout, func() { cancel(errStalled) })
	return ctx, w, func() { w.timer.Stop(); cancel(context.Canceled) }
}

func (w *watchdog) kick() { w.timer.Reset(w.timeout) }

// stalled reports whether ctx ended because its watchdog fired.
func stalled(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errStalled)
}

// boundedReader reads r, failing once more than max bytes came, and kicks
// the watchdog on every read that brought bytes.
type boundedReader struct {
	r    io.Reader
	max  int64
	n    int64
	dog  *watchdog
	what string
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		if b.dog != nil {
			b.dog.kick()
		}
		if b.n > b.max {
			return n, &overrunError{what: b.what, max: b.max}
		}
	}
	return n, err
}

// overrunError is a blob that sent more bytes than declared.
type overrunError struct {
	what string
	max  int64
}

func (e *overrunError) Error() string {
	return fmt.Sprintf("%s sent more than its declared %d bytes", e.what, e.max)
}
