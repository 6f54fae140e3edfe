package localrt

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/scfd/scfd/internal/nice"
)

// pool keeps up to size values made ahead of demand by a background
// goroutine. take never waits for the filler: when the pool is empty it
// makes a value itself.
type pool[T any] struct {
	mk      func() (T, error)
	quiet   func() bool // waits for a moment without starts; false: give up
	destroy func(T)
	log     *slog.Logger
	items   chan T
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newPool[T any](size int, mk func() (T, error), destroy func(T), quiet func() bool, log *slog.Logger) *pool[T] {
	p := &pool[T]{mk: mk, destroy: destroy, quiet: quiet, log: log}
	if size <= 0 {
		return p
	}
	p.items = make(chan T, size)
	p.wake = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.fill()
	p.kick()
	return p
}

func (p *pool[T]) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pool[T]) fill() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
		for len(p.items) < cap(p.items) {
			// Refills wait for a moment without starts, so that they do
			// not take the CPU from the start that emptied the pool.
			if p.quiet != nil && !p.quiet() {
				return
			}
			v, err := p.mkLow()
			if err != nil {
				p.log.Error("localrt: prepare ahead", "err", err)
				break
			}
			select {
			case p.items <- v:
			case <-p.stop:
				p.destroy(v)
				return
			}
		}
	}
}

// mkLow makes a value at the background priority.
func (p *pool[T]) mkLow() (T, error) {
	restore, err := nice.Background()
	defer restore()
	if err != nil {
		p.log.Warn("localrt: prepare ahead", "err", err)
	}
	return p.mk()
}

// take returns a prepared value or makes one.
func (p *pool[T]) take() (T, error) {
	if p.items != nil {
		defer p.kick()
		select {
		case v := <-p.items:
			return v, nil
		default:
		}
	}
	return p.mk()
}

// close stops the filler and destroys the prepared values.
func (p *pool[T]) close() {
	if p.items == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case v := <-p.items:
			p.destroy(v)
		default:
			return
		}
	}
}

func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func pollSleep() { time.Sleep(5 * time.Millisecond) }

func mountsUnder(dir string) []string {
	ms, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}
