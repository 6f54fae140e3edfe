package images

import (
	"testing"
)

func TestInsecureRegistriesUsePlainHTTP(t *testing.T) {
	c := &Cache{insecure: map[string]bool{"reg.example:5000": true}}
	for ref, scheme := range map[string]string{"reg.example:5000/a/b:1": "http", "other.example/a/b:1": "https"} {
		r, err := c.parse(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != scheme {
			t.Errorf("%s: scheme %s, want %s", ref, got, scheme)
		}
	}
}

func TestRecommendedMemoryMB(t *testing.T) {
	for size, want := range map[int64]int64{100 << 20: 256, 300 << 20: 512, 700 << 20: 1024} {
		if got := RecommendedMemoryMB(size); got != want {
			t.Errorf("RecommendedMemoryMB(%d MiB) = %d, want %d", size>>20, got, want)
		}
	}
}
