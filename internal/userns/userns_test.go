package userns

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestRangesAreExclusiveAndComeBack(t *testing.T) {
	a, err := NewAllocator(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	var leases []*Lease
	for range 50 {
		l, err := a.Take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[l.HostID] || l.HostID < Base || l.Size != Size || (l.HostID-Base)%Size != 0 {
			t.Fatalf("range %+v: taken twice or out of place", l.Range)
		}
		seen[l.HostID] = true
		leases = append(leases, l)
	}
	// A second allocator over the same directory, as another server's,
	// never gets a held range.
	b, _ := NewAllocator(a.dir)
	for range 50 {
		l, err := b.Take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[l.HostID] {
			t.Fatalf("the other allocator got held range %d", l.HostID)
		}
		l.Release()
	}
	first := leases[0].HostID
	for _, l := range leases {
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
		l.Release()
	}
	// Every slot is free again: the first one can be taken by locking it
	// from another process.
	f, err := os.Open(a.dir + "/" + slotName(first))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out, err := exec.Command("flock", "-n", f.Name(), "true").CombinedOutput(); err != nil {
		t.Errorf("released slot still locked: %v %s", err, out)
	}
}

func slotName(host uint32) string {
	return strconv.FormatUint(uint64((host-Base)/Size), 10)
}

func TestMappings(t *testing.T) {
	r := Range{HostID: Base + Size, Size: Size}
	m := r.Mappings()
	if len(m) != 1 || m[0].ContainerID != 0 || m[0].HostID != Base+Size || m[0].Size != Size || r.Host(1000) != Base+Size+1000 {
		t.Errorf("mappings %+v, host(1000) %d", m, r.Host(1000))
	}
}
