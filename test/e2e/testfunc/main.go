// Command testfunc is the event function scfd's invocation tests run: an
// HTTP server on :9000 whose POST /event-invoke does what the event asks
// and answers with what it received.
//
// The event is a JSON object; every field is optional:
//
//	print     []string  lines to print on stdout before answering
//	stderr    []string  lines to print on stderr before answering
//	sleep_ms  int       wait this long before answering
//	alloc_mb  int       allocate and touch this much memory, kept
//	exit      int       exit the process with this code instead of answering
//	status    int       answer with this HTTP status (default 200)
//	body      string    answer with this body instead of the echo
//	big_mb    int       answer with this many MB of 'x'
//	later     string    print this line 100 ms after answering
//	udp       object    {"addr": "ip:port", "count": n, "size": bytes}:
//	                    send count datagrams of size bytes to addr
//	dial      string    connect to this TCP address and answer
//	                    {"dialed": what the server sent} or
//	                    {"dial_error": why not}
//
// The default answer is {"event": <the event>, "headers": {X-Scf-*...},
// "method": ..., "path": ..., "env": {SCF_* and TENCENTCLOUD_* variables}}.
//
// Flags change how it starts: -mode=never-listen waits without listening,
// -mode=exit prints a line and exits at once with code 3.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

type event struct {
	Print   []string `json:"print"`
	Stderr  []string `json:"stderr"`
	SleepMS int      `json:"sleep_ms"`
	AllocMB int      `json:"alloc_mb"`
	Exit    *int     `json:"exit"`
	Status  int      `json:"status"`
	Body    *string  `json:"body"`
	BigMB   int      `json:"big_mb"`
	Later   string   `json:"later"`
	FloodMB int      `json:"flood_mb"` // print this many MiB of 1 KiB lines
	Dial    string   `json:"dial"`
	UDP     *struct {
		Addr  string `json:"addr"`
		Count int    `json:"count"`
		Size  int    `json:"size"`
	} `json:"udp"`
}

var hold [][]byte

func main() {
	mode := flag.String("mode", "", "never-listen or exit")
	flag.Parse()
	switch *mode {
	case "never-listen":
		fmt.Println("testfunc: not listening on purpose")
		for {
			// A sleeping goroutine keeps Go's deadlock detector quiet.
			time.Sleep(time.Hour)
		}
	case "exit":
		fmt.Println("testfunc: exiting at once on purpose")
		os.Exit(3)
	}
	http.HandleFunc("POST /event-invoke", invoke)
	log.Fatal(http.ListenAndServe(":9000", nil))
}

func invoke(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var ev event
	_ = json.Unmarshal(raw, &ev)
	for _, l := range ev.Print {
		fmt.Println(l)
	}
	for _, l := range ev.Stderr {
		fmt.Fprintln(os.Stderr, l)
	}
	if ev.FloodMB > 0 {
		line := strings.Repeat("f", 1023)
		for range ev.FloodMB << 10 {
			fmt.Println(line)
		}
	}
	if ev.SleepMS > 0 {
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
	}
	for i := 0; i < ev.AllocMB; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		hold = append(hold, b)
	}
	if ev.Exit != nil {
		os.Exit(*ev.Exit)
	}
	if u := ev.UDP; u != nil {
		if err := sendUDP(u.Addr, u.Count, u.Size); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, err)
			return
		}
	}
	if ev.Dial != "" {
		json.NewEncoder(w).Encode(dial(ev.Dial))
		return
	}
	if ev.Later != "" {
		go func() {
			time.Sleep(100 * time.Millisecond)
			fmt.Println(ev.Later)
		}()
	}
	if ev.Status != 0 {
		w.WriteHeader(ev.Status)
	}
	switch {
	case ev.BigMB > 0:
		chunk := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i < ev.BigMB; i++ {
			w.Write(chunk)
		}
	case ev.Body != nil:
		io.WriteString(w, *ev.Body)
	default:
		headers := map[string]string{}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-scf-") {
				headers[k] = r.Header.Get(k)
			}
		}
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SCF_") || strings.HasPrefix(k, "TENCENTCLOUD_") {
				env[k] = v
			}
		}
		var evAny any = string(raw)
		if json.Valid(raw) {
			evAny = json.RawMessage(raw)
		}
		json.NewEncoder(w).Encode(map[string]any{
			"event": evAny, "headers": headers, "method": r.Method, "path": r.URL.Path,
			"contentType": r.Header.Get("Content-Type"), "env": env,
		})
	}
}

// sendUDP sends count datagrams of size bytes to addr from an unconnected
// socket, so that nobody listening there does not stop the sending.
func sendUDP(addr string, count, size int) error {
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, size)
	for range count {
		if _, err := c.WriteTo(buf, to); err != nil {
			return err
		}
	}
	return nil
}

// dial connects to addr and reads what its server says first.
func dial(addr string) map[string]string {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return map[string]string{"dial_error": err.Error()}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 64))
	if err != nil && len(b) == 0 {
		return map[string]string{"dial_error": err.Error()}
	}
	return map[string]string{"dialed": strings.TrimSpace(string(b))}
}
