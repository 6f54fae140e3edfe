package cluster

import (
	"context"
	"net/http"
)

// Handler serves the internal listener: requests other replicas forward,
// web requests to web (the gateway) and event invocations to local.
// Requests without a valid signature are refused with 403. A request
// served here is Forwarded: it is not forwarded again, whoever this
// replica thinks owns its function.
func (f *Forwarder) Handler(web http.Handler, local Invoker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from, err := verify(r, f.opts.Secret, f.opts.Now())
		if err != nil {
			f.log.Warn("cluster: refused an unauthenticated request on the internal listener", "remote", r.RemoteAddr, "err", err)
			http.Error(w, "forbidden: not signed by a replica of this cluster", http.StatusForbidden)
			return
		}
		kind, remote := r.Header.Get(KindHeader), r.Header.Get(RemoteHeader)
		for _, h := range []string{PeerHeader, KindHeader, RemoteHeader} {
			r.Header.Del(h)
		}
		r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, from))
		switch kind {
		case KindWeb:
			if remote != "" {
				r.RemoteAddr = remote
			}
			r.Header.Del(InvocationHeader)
			web.ServeHTTP(w, r)
		case KindInvoke:
			f.serveInvoke(w, r, local)
		default:
			http.Error(w, "cluster: unknown kind of forwarded request", http.StatusBadRequest)
		}
	})
}
