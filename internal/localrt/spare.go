package localrt

import (
	"context"
	"encoding/json"
	"time"

	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Defaults of the prepared containers (Options.Spares).
const (
	// DefaultMaxSpares bounds the prepared containers of all specs.
	DefaultMaxSpares = 16
	// DefaultSpareTTL is how long a prepared container waits for a start
	// before it is removed.
	DefaultSpareTTL = 2 * time.Minute
)

// spare is a container prepared ahead for one spec: created by the
// runtime, its process waiting to be started.
type spare struct {
	in    *instance
	timer *time.Timer // removes it after SpareTTL
}

// spareFields is what makes two specs' containers interchangeable:
// every field of sandbox.Spec but the instance id, the log sink and the
// start-up budget. (A test fails when Spec gains a field missing here.)
type spareFields struct {
	Namespace, Function, Version string
	Layers                       []string
	Image                        sandbox.ImageConfig
	ImageRef                     string
	Command, Args                string
	Env                          []scf.Variable
	MemoryMB                     int64
	Port                         int
}

// spareKey names the containers interchangeable with spec's.
func spareKey(spec sandbox.Spec) string {
	b, err := json.Marshal(spareFields{
		Namespace: spec.Namespace, Function: spec.Function, Version: spec.Version,
		Layers: spec.Layers, Image: spec.Image, ImageRef: spec.ImageRef,
		Command: spec.Command, Args: spec.Args, Env: spec.Env, MemoryMB: spec.MemoryMB, Port: spec.Port,
	})
	if err != nil {
		panic("localrt: spare key: " + err.Error()) // plain strings and numbers always encode
	}
	return string(b)
}

// takeSpare returns a prepared container of key whose process is still
// there, or nil.
func (d *Driver) takeSpare(key string) *instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	for list := d.spares[key]; len(list) > 0; list = d.spares[key] {
		sp := list[0]
		d.spares[key] = list[1:]
		if len(d.spares[key]) == 0 {
			delete(d.spares, key)
		}
		d.spareCount--
		sp.timer.Stop()
		select {
		case <-sp.in.exited:
			continue // died while waiting; it cleans up by itself
		default:
			return sp.in
		}
	}
	return nil
}

// prepare creates, in the background, a container for spec's next start
// when Options.Spares allows one more for this spec and in all.
func (d *Driver) prepare(spec sandbox.Spec, key string) {
	if d.opts.Spares <= 0 {
		return
	}
	d.mu.Lock()
	if d.closing || len(d.spares[key])+d.preparing[key] >= d.opts.Spares || d.spareCount+d.preparingAll >= d.opts.MaxSpares {
		d.mu.Unlock()
		return
	}
	d.preparing[key]++
	d.preparingAll++
	d.prepWG.Add(1)
	d.mu.Unlock()
	spec.ID, spec.Logs = "p"+randomID(), nil
	go func() {
		defer d.prepWG.Done()
		in, err := d.create(context.Background(), spec)
		d.mu.Lock()
		d.preparing[key]--
		if d.preparing[key] == 0 {
			delete(d.preparing, key)
		}
		d.preparingAll--
		if err != nil {
			d.mu.Unlock()
			d.log.Warn("localrt: preparing a container", "function", spec.Function, "err", err)
			return
		}
		if d.closing {
			d.mu.Unlock()
			in.Stop(context.Background())
			return
		}
		sp := &spare{in: in}
		sp.timer = time.AfterFunc(d.opts.SpareTTL, func() { d.expire(key, sp) })
		d.spares[key] = append(d.spares[key], sp)
		d.spareCount++
		d.mu.Unlock()
	}()
}

// expire removes a prepared container nobody started in time.
func (d *Driver) expire(key string, sp *spare) {
	d.mu.Lock()
	list := d.spares[key]
	for i, s := range list {
		if s == sp {
			d.spares[key] = append(list[:i:i], list[i+1:]...)
			if len(d.spares[key]) == 0 {
				delete(d.spares, key)
			}
			d.spareCount--
			d.mu.Unlock()
			sp.in.Stop(context.Background())
			return
		}
	}
	d.mu.Unlock()
}

// Spares counts the containers prepared ahead and waiting.
func (d *Driver) Spares() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spareCount
}
