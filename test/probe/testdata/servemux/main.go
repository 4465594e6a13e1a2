// Command servemux is an HTTP service routed by net/http's own ServeMux
// (Go 1.22 patterns: a method, a wildcard, a host). Every handler calls the
// downstream, forwarding X-Test-Id and naming its pattern in
// X-Caller-Route, so the downstream's /truth names the inbound request
// behind each outbound connection use. It builds with Go 1.21 too, where
// the patterns are plain paths and only the method-less ones match.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// The patterns, as the probe test expects to see them in `route`.
const (
	patternUser  = "GET /users/{id}"
	patternOrder = "POST /orders"
	patternItems = "/items/"
	patternHost  = "127.0.0.1/hosted"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "")
	down := flag.String("downstream", "", "downstream base URL")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	call := func(pattern string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond) // keeps requests in flight together
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, *down+"/servemux", nil)
			req.Header.Set("X-Test-Id", r.Header.Get("X-Test-Id"))
			req.Header.Set("X-Caller-Route", pattern)
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Fprintln(w, pattern)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(patternUser, call(patternUser))
	mux.Handle(patternOrder, call(patternOrder))
	mux.HandleFunc(patternItems, call(patternItems))
	mux.HandleFunc(patternHost, call(patternHost))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
