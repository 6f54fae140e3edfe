// Command hello is a tiny SCF image-function server used by tests: it
// answers every request on :9000 with "hello".
package main

import (
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	log.Fatal(http.ListenAndServe(":9000", nil))
}
