// Command h2client is a service whose handlers call HTTP/2 downstreams:
// one over TLS (ALPN h2), one over h2c, each through one shared client,
// so that many requests' calls are multiplexed on few connections. /pool
// hands the TLS call to a worker started with the service, which makes it
// with the request's context.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
)

type job struct {
	ctx  context.Context
	id   string
	done chan error
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	tlsURL := flag.String("tls", "", "base URL of the TLS HTTP/2 downstream")
	caFile := flag.String("ca", "", "PEM certificate the TLS downstream presents")
	h2cURL := flag.String("h2c", "", "base URL of the h2c downstream")
	flag.Parse()

	pem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsClient := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}}
	var plain http.Protocols
	plain.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{Protocols: &plain}}

	call := func(ctx context.Context, c *http.Client, url, id string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Test-Id", id)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			return fmt.Errorf("%s answered over %s, want HTTP/2", url, resp.Proto)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	reply := func(w http.ResponseWriter, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok\n")
	}

	jobs := make(chan job)
	for i := 0; i < 4; i++ {
		go func() {
			for j := range jobs {
				j.done <- call(context.WithValue(j.ctx, job{}, j.id), tlsClient, *tlsURL+"/pool", j.id)
			}
		}()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /tls/{n}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, call(r.Context(), tlsClient, *tlsURL+"/tls", r.Header.Get("X-Test-Id")))
	})
	mux.HandleFunc("GET /h2c/{n}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, call(r.Context(), h2cClient, *h2cURL+"/h2c", r.Header.Get("X-Test-Id")))
	})
	mux.HandleFunc("GET /pool/{n}", func(w http.ResponseWriter, r *http.Request) {
		j := job{ctx: r.Context(), id: r.Header.Get("X-Test-Id"), done: make(chan error, 1)}
		jobs <- j
		reply(w, <-j.done)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
