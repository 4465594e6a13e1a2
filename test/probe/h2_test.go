package probe_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestHTTP2ServerRequests: requests served over HTTP/2 (h2c, and TLS with
// ALPN h2; many streams multiplexed on one connection, each handled in a
// goroutine of its own) are recorded and each one's outbound call is
// attributed to it, checked against the downstream's own view of the
// source port. Their end comes from the HTTP/2 response writer's
// handlerDone probe, not conn.serve's, and their route is the ServeMux
// pattern read there.
func TestHTTP2ServerRequests(t *testing.T) {
	t.Run("h2c", func(t *testing.T) { testHTTP2Server(t, false) })
	t.Run("tls", func(t *testing.T) { testHTTP2Server(t, true) })
}

func testHTTP2Server(t *testing.T, useTLS bool) {
	e := newEnv(t, "local")
	dir := t.TempDir()
	bin := filepath.Join(dir, "h2c")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/h2c").CombinedOutput(); err != nil {
		t.Fatalf("building the h2c service: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	args := []string{"--header", "x-test-id", "--", bin, "-addr", addr, "-downstream", "http://" + e.down}
	var p http.Protocols
	tr := &http.Transport{Protocols: &p}
	scheme := "http"
	if useTLS {
		// httptest's certificate (for 127.0.0.1), handed to the service.
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		srv.Close()
		pair := srv.TLS.Certificates[0]
		key, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-cert", certFile, "-key", keyFile)
		roots := x509.NewCertPool()
		roots.AddCert(srv.Certificate())
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
		p.SetHTTP2(true)
		scheme = "https"
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	h := startHelper(t, args...)
	h.waitReady()
	waitFor(t, "the h2c service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	h2 := &http.Client{Timeout: 20 * time.Second, Transport: tr}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/hello", nil)
			req.Header.Set("X-Test-Id", fmt.Sprintf("h2-%d", i))
			resp, err := h2.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || string(b) != "HTTP/2.0\n" {
				errs <- fmt.Errorf("request %d: %s %q, want HTTP/2", i, resp.Proto, b)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= n })
	rs := h.stop()

	portOf := map[string]int{} // test id -> the source port the downstream saw
	for _, tr := range e.truth() {
		portOf[tr.TestID] = tr.RemotePort
	}
	byID := map[string]record{}
	for _, r := range byType(rs, "request") {
		byID[r.ID] = r
	}
	goids := map[uint64]bool{}
	for _, r := range byType(rs, "request") {
		// The ServeMux pattern is read at handlerDone, as on HTTP/1 at conn.serve.
		if r.Path != "/hello" || r.Route != "/hello" || r.Headers["x-test-id"] == "" {
			t.Errorf("request %+v", r)
		}
		goids[r.Goid] = true
	}
	if len(byID) != n || len(goids) != n {
		t.Fatalf("%d request records on %d goroutines, want %d each", len(byID), len(goids), n)
	}
	seen := map[string]int{}
	for _, ob := range byType(rs, "outbound") {
		if ob.Request == nil {
			t.Errorf("outbound %+v has no request", ob)
			continue
		}
		id := byID[*ob.Request].Headers["x-test-id"]
		seen[id]++
		if portOf[id] != ob.Sport {
			t.Errorf("%s: outbound from port %d, the downstream saw %s's call from %d", *ob.Request, ob.Sport, id, portOf[id])
		}
	}
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("h2-%d", i); seen[id] != 1 {
			t.Errorf("%s: %d outbound records, want 1", id, seen[id])
		}
	}
}
