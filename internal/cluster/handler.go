package cluster

import (
	"context"
	"errors"
	"net/http"
)

// DrainingHeader marks the answer of a replica that is draining and ran
// nothing of the request: the sender may try the next owner.
const DrainingHeader = "X-Scfd-Draining"

// errDraining is a refusal of a draining replica.
var errDraining = errors.New("cluster: the replica is draining")

// Draining wraps the handler that refuses requests while this replica
// drains (on the internal listener): its answers are marked, so that the
// sender tries the next owner instead when it can.
func Draining(refuse http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(DrainingHeader, "1")
		refuse.ServeHTTP(w, r)
	})
}

// drained reports whether resp is a draining replica's refusal.
func drained(resp *http.Response) bool {
	return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(DrainingHeader) != ""
}

// Handler serves the internal listener: requests other replicas forward,
// web requests to web (the gateway), API requests to api (the SCF API,
// which authenticates them as it does any) and event invocations to
// local.
// Requests without a valid signature are refused with 403. A request
// served here is Forwarded: it is not forwarded again, whoever this
// replica thinks owns its function.
func (f *Forwarder) Handler(web, api http.Handler, local Invoker) http.Handler {
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
		case KindWeb, KindAPI:
			if remote != "" {
				r.RemoteAddr = remote
			}
			r.Header.Del(InvocationHeader)
			if kind == KindAPI {
				api.ServeHTTP(w, r)
			} else {
				web.ServeHTTP(w, r)
			}
		case KindInvoke:
			f.serveInvoke(w, r, local)
		default:
			http.Error(w, "cluster: unknown kind of forwarded request", http.StatusBadRequest)
		}
	})
}
