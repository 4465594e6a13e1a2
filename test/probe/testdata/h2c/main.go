// Command h2c is an HTTP service that speaks HTTP/2 without TLS (h2c, Go
// 1.24's http.Protocols) as well as HTTP/1, or, with -cert and -key, HTTP/2
// over TLS (ALPN h2) as well as HTTP/1 over TLS: its one handler calls the
// downstream over HTTP/1, forwarding X-Test-Id, so the downstream's /truth
// names the inbound request behind each outbound connection use.
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

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "")
	down := flag.String("downstream", "", "downstream base URL")
	cert := flag.String("cert", "", "PEM certificate: serve TLS")
	key := flag.String("key", "", "PEM private key of -cert")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, *down+"/h2c", nil)
		req.Header.Set("X-Test-Id", r.Header.Get("X-Test-Id"))
		req.Header.Set("X-Caller-Route", "/hello")
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "%s\n", r.Proto)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	var p http.Protocols
	p.SetHTTP1(true)
	if *cert != "" {
		p.SetHTTP2(true)
		srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
		log.Fatal(srv.ServeTLS(ln, *cert, *key))
	}
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
