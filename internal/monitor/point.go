package monitor

import (
	"encoding/binary"
	"math"
	"time"
)

// NumBuckets is the number of duration buckets: bucket i holds durations
// up to BucketBound(i); the last holds the longer ones.
const NumBuckets = 64

// bucketGrowth is the ratio of one bucket's bound to the previous one's:
// a percentile read from the buckets is within 25% of the true one, and
// interpolation inside the bucket usually does much better.
const bucketGrowth = 1.25

// BucketBound is the upper bound of bucket i in milliseconds: 1 ms, 1.25 ms,
// 1.5625 ms, ... up to about 1030 s (SCF's longest timeout is 900 s); the last
// bucket has no bound (+Inf).
func BucketBound(i int) float64 {
	if i >= NumBuckets-1 {
		return math.Inf(1)
	}
	return math.Pow(bucketGrowth, float64(i))
}

// Histogram counts durations in NumBuckets log-spaced buckets. The zero
// value is empty and ready to use.
type Histogram [NumBuckets]int64

// Add counts one duration.
func (h *Histogram) Add(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i := 0
	if ms > 1 {
		i = int(math.Ceil(math.Log(ms) / math.Log(bucketGrowth)))
		// Guard against rounding at the bounds.
		if i > 0 && ms <= BucketBound(i-1) {
			i--
		}
	}
	h[min(i, NumBuckets-1)]++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is the number of durations counted.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q ≤ 1) in milliseconds,
// interpolating linearly inside the bucket where it falls. It is 0 when
// the histogram is empty; in the last bucket it is that bucket's lower
// bound.
func (h *Histogram) Quantile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	target := q * float64(total)
	var cum float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target {
			lower := 0.0
			if i > 0 {
				lower = BucketBound(i - 1)
			}
			upper := BucketBound(i)
			if math.IsInf(upper, 1) {
				return lower
			}
			return lower + (upper-lower)*(target-cum)/float64(c)
		}
		cum += float64(c)
	}
	return BucketBound(NumBuckets - 2)
}

// encode stores the counts as varints.
func (h *Histogram) encode() []byte {
	b := make([]byte, 0, NumBuckets)
	for _, c := range h {
		b = binary.AppendUvarint(b, uint64(c))
	}
	return b
}

// decode reads what encode wrote; missing counts are zero.
func (h *Histogram) decode(b []byte) {
	for i := range h {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return
		}
		h[i] = int64(v)
		b = b[n:]
	}
}

// Point is what happened to a function version in one minute, or in a
// step of a series.
type Point struct {
	Invocations    int64
	Errors         int64
	Durations      Histogram
	ColdStarts     int64
	ColdStartMs    float64 // the total of the cold starts' durations
	ColdStartMaxMs float64
	Instances      int64 // the peak of concurrent instances
	GBSeconds      float64
}

// merge adds o, a point of the same version, to p: counts add up, peaks
// take the larger.
func (p *Point) merge(o *Point) {
	p.Invocations += o.Invocations
	p.Errors += o.Errors
	p.Durations.Merge(&o.Durations)
	p.ColdStarts += o.ColdStarts
	p.ColdStartMs += o.ColdStartMs
	p.ColdStartMaxMs = math.Max(p.ColdStartMaxMs, o.ColdStartMaxMs)
	p.Instances = max(p.Instances, o.Instances)
	p.GBSeconds += o.GBSeconds
}
