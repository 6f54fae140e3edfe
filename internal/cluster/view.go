package cluster

import (
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// View is one snapshot of the live replicas as this replica sees them. It
// is immutable and safe for concurrent use; a nil or empty View owns
// nothing.
type View struct {
	self    string
	members []weighted // sorted by ID
}

type weighted struct {
	Member
	seed uint64 // the hash of the ID, mixed with each key's
}

// NewView returns the view of replica self over members (self need not
// be among them: then it owns nothing). Duplicate IDs keep the first.
func NewView(self string, members []Member) *View {
	v := &View{self: self}
	for _, m := range members {
		v.members = append(v.members, weighted{Member: m, seed: xxhash.Sum64String(m.ID)})
	}
	slices.SortStableFunc(v.members, func(a, b weighted) int { return strings.Compare(a.ID, b.ID) })
	v.members = slices.CompactFunc(v.members, func(a, b weighted) bool { return a.ID == b.ID })
	return v
}

// Self is this replica's ID.
func (v *View) Self() string { return v.self }

// Members returns the live replicas, sorted by ID.
func (v *View) Members() []Member {
	out := make([]Member, len(v.members))
	for i, m := range v.members {
		out[i] = m.Member
	}
	return out
}

// Has reports whether the replica id is in the view.
func (v *View) Has(id string) bool {
	_, ok := slices.BinarySearchFunc(v.members, id, func(m weighted, id string) int { return strings.Compare(m.ID, id) })
	return ok
}

// Owner returns the replica that owns k: the one of highest weight
// mix(hash(k) ^ hash(ID)). The zero Member (and false) when the view is
// empty.
func (v *View) Owner(k Key) (Member, bool) { return v.Next(k, "") }

// Next returns the owner of k among the replicas other than skip.
func (v *View) Next(k Key, skip string) (Member, bool) {
	if v == nil {
		return Member{}, false
	}
	h := keyHash(k)
	best, bestW := -1, uint64(0)
	for i := range v.members {
		m := &v.members[i]
		if m.ID == skip {
			continue
		}
		if w := mix(h ^ m.seed); best < 0 || w > bestW {
			best, bestW = i, w
		}
	}
	if best < 0 {
		return Member{}, false
	}
	return v.members[best].Member, v.members[best].ID == v.self
}

// Suspect has no effect on a fixed View.
func (*View) Suspect(string) {}

// keyHash hashes k without allocating.
func keyHash(k Key) uint64 {
	return mix(xxhash.Sum64String(k.Namespace)) ^ xxhash.Sum64String(k.Function)
}

// mix is SplitMix64's finaliser: every bit of x reaches every bit of the
// weight, so weights of one key over different replicas are independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Moved returns the keys whose ownership by this replica differs between
// old and new: gained are owned in new and not in old, lost the reverse.
func Moved(old, new *View, keys []Key) (gained, lost []Key) {
	for _, k := range keys {
		_, was := old.Owner(k)
		_, is := new.Owner(k)
		switch {
		case is && !was:
			gained = append(gained, k)
		case was && !is:
			lost = append(lost, k)
		}
	}
	return gained, lost
}
