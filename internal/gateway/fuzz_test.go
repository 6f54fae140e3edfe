package gateway

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParsePath checks that no request path makes parsePath panic, that
// what it accepts names a namespace and a function, and that the path the
// instance sees is absolute and is what its raw form unescapes to.
func FuzzParsePath(f *testing.F) {
	for _, p := range []string{
		"/default/fn/", "/default/fn@2/a/b?x=1", "/ns/fn@$LATEST/a%2Fb/c", "/%zz/fn/", "//fn/", "/ns//", "/ns/fn", "/ns/f%40n@q/%2e%2e/x",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			return
		}
		got, ok := parsePath(u)
		if !ok {
			return
		}
		if got.namespace == "" || got.function == "" {
			t.Fatalf("%q: namespace %q, function %q", raw, got.namespace, got.function)
		}
		if !strings.HasPrefix(got.path, "/") {
			t.Fatalf("%q: the instance would see the relative path %q", raw, got.path)
		}
		if got.rawPath != "" {
			if p, err := url.PathUnescape(got.rawPath); err != nil || p != got.path {
				t.Fatalf("%q: raw path %q unescapes to %q, %v; path %q", raw, got.rawPath, p, err, got.path)
			}
		}
	})
}
