// Command tlsname is a service whose handlers call an HTTPS downstream by
// a name no resolver knows, api.test, with Authorization and Cookie
// headers:
//
//   - /call/CODE/N: net/http, whose transport dials api.test:PORT as
//     127.0.0.1:PORT and trusts the downstream's certificate for api.test;
//     the downstream answers CODE; over HTTP/1;
//   - /call2/CODE/N: the same over HTTP/2;
//   - /raw/N: crypto/tls over a connection net.DialTCP opened (no
//     net.Dialer), asking for api.test, an HTTP/1 request written by hand;
//   - /plain/N: an HTTP/1 request written by hand on one plain connection
//     to the plain downstream, opened at start and kept for every request.
package main

import (
	"bufio"
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
	"strings"
	"sync"
)

const name = "api.test"

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	port := flag.String("port", "", "port of the HTTPS downstream, on 127.0.0.1, whose certificate is for api.test")
	caFile := flag.String("ca", "", "PEM certificate the HTTPS downstream presents")
	plainAddr := flag.String("plain", "", "address of the plain HTTP downstream")
	auth := flag.String("authorization", "", "Authorization header value sent downstream")
	cookie := flag.String("cookie", "", "Cookie header value sent downstream")
	flag.Parse()

	pem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		log.Fatal("no certificate in ", *caFile)
	}
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: name}
	dialer := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, p, err := net.SplitHostPort(addr); err == nil && host == name {
			addr = net.JoinHostPort("127.0.0.1", p)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: 4}}
	h2Client := &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: tlsConfig.Clone(), ForceAttemptHTTP2: true}}
	secrets := "Authorization: " + *auth + "\r\nCookie: " + *cookie + "\r\n"

	// request writes an HTTP/1 request by hand on c and reads the answer.
	request := func(c net.Conn, r *bufio.Reader, path, id, connection string) (int, error) {
		msg := "GET " + path + " HTTP/1.1\r\n" + secrets + "Host: " + name + "\r\nX-Test-Id: " + id + "\r\nConnection: " + connection + "\r\n\r\n"
		if _, err := io.WriteString(c, msg); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}

	plain, err := net.Dial("tcp", *plainAddr)
	if err != nil {
		log.Fatal(err)
	}
	plainR := bufio.NewReader(plain)
	var plainMu sync.Mutex

	reply := func(w http.ResponseWriter, status int, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "downstream answered %d\n", status)
	}
	call := func(w http.ResponseWriter, r *http.Request, c *http.Client, protoMajor int) {
		_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		code, _, _ := strings.Cut(rest, "/")
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://"+net.JoinHostPort(name, *port)+"/status/"+code, nil)
		if err != nil {
			reply(w, 0, err)
			return
		}
		req.Header.Set("Authorization", *auth)
		req.Header.Set("Cookie", *cookie)
		req.Header.Set("X-Test-Id", r.Header.Get("X-Test-Id"))
		resp, err := c.Do(req)
		if err != nil {
			reply(w, 0, err)
			return
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil && resp.ProtoMajor != protoMajor {
			err = fmt.Errorf("the downstream answered over %s, want HTTP/%d", resp.Proto, protoMajor)
		}
		reply(w, resp.StatusCode, err)
	}
	http.HandleFunc("/call/", func(w http.ResponseWriter, r *http.Request) { call(w, r, client, 1) })
	http.HandleFunc("/call2/", func(w http.ResponseWriter, r *http.Request) { call(w, r, h2Client, 2) })
	http.HandleFunc("/raw/", func(w http.ResponseWriter, r *http.Request) {
		raddr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort("127.0.0.1", *port))
		if err != nil {
			reply(w, 0, err)
			return
		}
		tcp, err := net.DialTCP("tcp", nil, raddr)
		if err != nil {
			reply(w, 0, err)
			return
		}
		c := tls.Client(tcp, tlsConfig)
		defer c.Close()
		status, err := request(c, bufio.NewReader(c), "/raw", r.Header.Get("X-Test-Id"), "close")
		reply(w, status, err)
	})
	http.HandleFunc("/plain/", func(w http.ResponseWriter, r *http.Request) {
		plainMu.Lock()
		defer plainMu.Unlock()
		status, err := request(plain, plainR, "/plain", r.Header.Get("X-Test-Id"), "keep-alive")
		reply(w, status, err)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
