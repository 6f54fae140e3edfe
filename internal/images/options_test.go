package images

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOptionsFromEnv(t *testing.T) {
	t.Setenv("SCFD_INSECURE_REGISTRIES", "reg.local:5000, 10.0.0.1:80")
	t.Setenv("SCFD_IMAGE_CACHE_MAX", "10G")
	o, err := OptionsFromEnv("/data")
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Dir: "/data", InsecureRegistries: []string{"reg.local:5000", "10.0.0.1:80"}, MaxCacheBytes: 10 << 30}
	if diff := cmp.Diff(want, o, cmp.FilterPath(func(p cmp.Path) bool {
		return p.String() == "Keychain" || p.String() == "InUse" || p.String() == "Transport" || p.String() == "Logger"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("OptionsFromEnv (-want +got):\n%s", diff)
	}
	t.Setenv("SCFD_IMAGE_CACHE_MAX", "lots")
	if _, err := OptionsFromEnv("/data"); err == nil {
		t.Error("SCFD_IMAGE_CACHE_MAX=lots accepted")
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "512M": 512 << 20, "512MiB": 512 << 20, "2g": 2 << 30, "1T": 1 << 40} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

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
