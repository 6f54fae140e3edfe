// Package userns hands out the host user and group IDs of instances' user
// namespaces: each instance's root is a host ID no other instance, of any
// scfd server on the host, has at the same time, so process limits
// (RLIMIT_NPROC counts per host user), files and signals are per instance,
// and root in a container is not root on the host.
//
// A Range maps container IDs 0..Size-1 to host IDs HostID..HostID+Size-1,
// the same for users and groups. Ranges are slots of Size IDs from Base
// up; a slot is held by an exclusive flock(2) on a file of its own in a
// host-wide directory (DefaultDir), so servers sharing the host never hand
// out the same range, and a slot whose holder died (even by kill -9) is
// free again at once.
package userns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The ID ranges: Slots ranges of Size IDs from Base, above the IDs of
// host users and of the subordinate ranges (/etc/subuid) that tools such
// as podman hand out from 100000.
const (
	Base  = 1 << 30
	Size  = 1 << 16
	Slots = 1 << 14
)

// DefaultDir holds the slots' lock files; on a tmpfs, it starts empty at
// each boot.
const DefaultDir = "/run/scfd/idranges"

// Range is the host IDs of one user namespace.
type Range struct {
	HostID uint32 // container ID 0
	Size   uint32
}

// Mappings is r as an OCI runtime spec's UIDMappings or GIDMappings.
func (r Range) Mappings() []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.HostID, Size: r.Size}}
}

// Host is the host ID of container ID id.
func (r Range) Host(id uint32) uint32 { return r.HostID + id }

// Allocator hands out ranges.
type Allocator struct {
	dir string
}

// NewAllocator returns an allocator keeping its lock files in dir (empty
// means DefaultDir), which it creates.
func NewAllocator(dir string) (*Allocator, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("userns: %w", err)
	}
	return &Allocator{dir: dir}, nil
}

// Lease is a range held until Release.
type Lease struct {
	Range
	f *os.File
}

// ErrExhausted is returned when every slot is held.
var ErrExhausted = errors.New("userns: every ID range is in use")

// Take returns a range no one else holds. It starts looking at a random
// slot, so that servers starting at once rarely try the same ones.
func (a *Allocator) Take() (*Lease, error) {
	start := rand.IntN(Slots)
	for i := range Slots {
		slot := (start + i) % Slots
		f, err := os.OpenFile(filepath.Join(a.dir, strconv.Itoa(slot)), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("userns: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
			return nil, fmt.Errorf("userns: lock slot %d: %w", slot, err)
		}
		return &Lease{Range: Range{HostID: Base + uint32(slot)*Size, Size: Size}, f: f}, nil
	}
	return nil, ErrExhausted
}

// Release gives the range back. It is idempotent.
func (l *Lease) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing drops the lock
	l.f = nil
	return err
}
