// Command server is the function image scfd's sandbox tests run: a small
// HTTP server on :9000 with endpoints that exercise an instance (print the
// environment, write to disk, allocate memory, exit, dial an address, tell
// its user and group IDs and user namespace's mapping).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", ":9000", "address to listen on")
	sleep := flag.Duration("sleep", 0, "wait this long before listening")
	exit := flag.Int("exit", -1, "exit at once with this code")
	say := flag.String("say", "", "print this line on stdout and stderr first")
	flag.Parse()
	if *say != "" {
		fmt.Println(*say)
		fmt.Fprintln(os.Stderr, *say)
	}
	if *exit >= 0 {
		os.Exit(*exit)
	}
	time.Sleep(*sleep)

	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		wd, _ := os.Getwd()
		json.NewEncoder(w).Encode(map[string]any{
			"env": os.Environ(), "args": os.Args, "hostname": host, "cwd": wd,
			"uid": os.Getuid(), "gid": os.Getgid(),
		})
	})
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		path := r.URL.Query().Get("path")
		f, err := os.Create(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(i)
		}
		for i := 0; i < mb; i++ {
			if _, err := f.Write(buf); err != nil {
				http.Error(w, fmt.Sprintf("after %d MB: %v", i, err), http.StatusInternalServerError)
				return
			}
		}
		if err := f.Sync(); err != nil {
			http.Error(w, fmt.Sprintf("sync: %v", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "wrote %d MB\n", mb)
	})
	var hold [][]byte
	http.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			hold = append(hold, b)
		}
		fmt.Fprintf(w, "holding %d MB\n", len(hold))
	})
	http.HandleFunc("/ids", func(w http.ResponseWriter, r *http.Request) {
		m, _ := os.ReadFile("/proc/self/uid_map")
		fmt.Fprintf(w, "%d %d %s\n", os.Getuid(), os.Getgid(), strings.Join(strings.Fields(string(m)), " "))
	})
	http.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		os.Exit(code)
	})
	http.HandleFunc("/print", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		text := r.URL.Query().Get("text")
		for i := 0; i < n; i++ {
			fmt.Printf("%s %d\n", text, i)
		}
	})
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		addr := r.URL.Query().Get("addr")
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Fprintf(w, "error: %v\n", err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		b := make([]byte, 64)
		n, _ := c.Read(b)
		fmt.Fprintf(w, "ok %s\n", strings.TrimSpace(string(b[:n])))
	})
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
