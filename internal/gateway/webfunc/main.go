// Command webfunc is the web function (Type HTTP) that the gateway's tests
// and benchmark run: an HTTP server on :9000 (or -addr) whose paths each
// show one behaviour.
//
//	/                  "ok" (the benchmark's small answer)
//	/line              prints one line to stderr, then answers "ok"
//	/addr              the server's own address, as the connection sees it
//	/echo/...          JSON: method, path, rawPath, query, headers, body
//	/sleep?ms=N        waits N ms, then answers JSON {"id", "inFlight", "maxInFlight"}
//	/status?code=N     answers with status N
//	/sse?n=N&gap_ms=G  a text/event-stream of N events, G ms apart, each flushed
//	/duplex            echoes each piece of a streamed request body at once
//	/ws                a WebSocket handshake (101), then echoes raw bytes
//	/exit              the process exits with code 3
package main

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

var (
	id          = newID()
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
)

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func main() {
	addr := flag.String("addr", ":9000", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/line", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "served", r.URL.Path)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/addr", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
	})
	mux.HandleFunc("/echo/", echo)
	mux.HandleFunc("/sleep", sleep)
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/sse", sse)
	mux.HandleFunc("/duplex", duplex)
	mux.HandleFunc("/ws", ws)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	log.Fatal(http.ListenAndServe(*addr, mux))
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "rawPath": r.URL.EscapedPath(), "query": r.URL.RawQuery,
		"headers": r.Header, "host": r.Host, "body": string(body),
	})
}

func sleep(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	mu.Lock()
	inFlight++
	maxInFlight = max(maxInFlight, inFlight)
	mu.Unlock()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	mu.Lock()
	out := map[string]any{"id": id, "inFlight": inFlight, "maxInFlight": maxInFlight}
	inFlight--
	mu.Unlock()
	json.NewEncoder(w).Encode(out)
}

func sse(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	gap, _ := strconv.Atoi(r.URL.Query().Get("gap_ms"))
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for i := range n {
		fmt.Fprintf(w, "data: %d\n\n", i)
		rc.Flush()
		time.Sleep(time.Duration(gap) * time.Millisecond)
	}
}

func duplex(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func ws(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
		return
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	rw.Flush()
	io.Copy(conn, rw)
}
