package images

import (
	"context"
	"sync"
)

// flight is one pull of one manifest digest, shared by every caller that
// asks for it while it runs.
type flight struct {
	done    chan struct{}
	img     *Image
	err     error
	waiters int  // guarded by Cache.mu
	pinned  bool // one pin per waiter taken on success; guarded by Cache.mu
	cancel  context.CancelFunc

	mu   sync.Mutex
	next int
	subs map[int]func(Progress)
	last Progress
}

func (f *flight) report(p Progress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = p
	for _, s := range f.subs {
		s(p)
	}
}

func (f *flight) subscribe(fn func(Progress)) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fn == nil {
		return -1
	}
	f.next++
	f.subs[f.next] = fn
	if f.last.Layers > 0 {
		fn(f.last)
	}
	return f.next
}

func (f *flight) unsubscribe(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, id)
}

// join runs fn once per key while callers wait for it, and answers each
// caller the image with a pin of its own (taken, for every caller still
// waiting, before collections may run again). fn's context outlives any
// single caller: it is cancelled when the last waiting caller gives up.
func (c *Cache) join(ctx context.Context, key string, progress func(Progress), fn func(context.Context, func(Progress)) (*Image, error)) (*Image, func(), error) {
	c.mu.Lock()
	f, ok := c.flights[key]
	if !ok {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel, subs: map[int]func(Progress){}}
		c.flights[key] = f
		go func() {
			c.gcMu.RLock()
			img, err := fn(fctx, f.report)
			c.mu.Lock()
			if c.flights[key] == f {
				delete(c.flights, key)
			}
			if err == nil {
				c.pins[key] += f.waiters
				f.pinned = true
			}
			c.mu.Unlock()
			c.gcMu.RUnlock()
			f.img, f.err = img, err
			cancel()
			close(f.done)
		}()
	}
	f.waiters++
	c.mu.Unlock()
	id := f.subscribe(progress)
	defer f.unsubscribe(id)

	select {
	case <-f.done:
		if f.err != nil {
			return nil, nil, f.err
		}
		return f.img, c.unpinner(key), nil
	case <-ctx.Done():
		c.mu.Lock()
		if f.pinned { // done meanwhile: give back this caller's pin
			c.unpinLocked(key)
		} else if f.waiters--; f.waiters == 0 {
			f.cancel()
			if c.flights[key] == f {
				delete(c.flights, key)
			}
		}
		c.mu.Unlock()
		return nil, nil, ctx.Err()
	}
}
