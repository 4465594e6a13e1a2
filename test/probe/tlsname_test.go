package probe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// namedDownstream is the HTTPS (certificate for api.test) and the plain
// downstream of the tlsname service, in the test process: per path (/status,
// /raw, /plain), each call's X-Test-Id and client port, and how many calls
// brought the Authorization and Cookie values the service was given.
type namedDownstream struct {
	auth, cookie string
	mu           sync.Mutex
	seen         map[string]map[key]int
	secrets      int
	h2           int // calls over HTTP/2
}

func (d *namedDownstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, p, _ := net.SplitHostPort(r.RemoteAddr)
	port, _ := strconv.Atoi(p)
	kind, code := r.URL.Path, http.StatusOK
	if rest, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		kind = "/status"
		code, _ = strconv.Atoi(rest)
	}
	d.mu.Lock()
	if d.seen[kind] == nil {
		d.seen[kind] = map[key]int{}
	}
	d.seen[kind][key{r.Header.Get("X-Test-Id"), port}]++
	if r.Header.Get("Authorization") == d.auth && r.Header.Get("Cookie") == d.cookie {
		d.secrets++
	}
	if r.ProtoMajor == 2 {
		d.h2++
	}
	d.mu.Unlock()
	w.WriteHeader(code)
	w.Write([]byte("{}"))
}

func (d *namedDownstream) snapshot(kind string) map[key]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[key]int{}
	for k, v := range d.seen[kind] {
		out[k] = v
	}
	return out
}

// certFor makes a self-signed certificate for a DNS name.
func certFor(t *testing.T, dnsName string) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: dnsName},
		DNSNames:              []string{dnsName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func secret(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestTLSServerName: a service calls an HTTPS downstream by a name only
// its own dialer resolves (api.test → 127.0.0.1) with a certificate for
// that name, 12 requests in flight. Each net/http call's record (HTTP/1
// and HTTP/2) carries the server name its connection's ClientHello asked
// for (api.test), the URL host (api.test:PORT) as op.host and
// remote.name, its status and duration, and its request; exchanges on a TLS connection the service opened without
// net.Dialer are tls, with that server name, which then names the remote
// end. Also with --no-statements, which cuts what the probe copies of
// other writes. No Authorization or Cookie value the service sends (over
// TLS, and in a plain HTTP/1 request it writes by hand) is in any record.
// Truth: the downstreams' own view (test id, client port, status asked).
func TestTLSServerName(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		dir := t.TempDir()
		bin := filepath.Join(dir, "tlsname")
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = "testdata/tlsname"
		if toolchain != "local" {
			build.Env = append(os.Environ(), "GOTOOLCHAIN="+toolchain)
		}
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the tlsname service: %v\n%s", err, out)
		}
		cert := certFor(t, "api.test")
		ca := filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"statements", "no-statements"} {
			t.Run(mode, func(t *testing.T) { testTLSServerName(t, bin, ca, cert, mode == "no-statements") })
		}
	})
}

func testTLSServerName(t *testing.T, bin, ca string, cert tls.Certificate, noStatements bool) {
	d := &namedDownstream{auth: "Bearer " + secret(t), cookie: "session=" + secret(t), seen: map[string]map[key]int{}}
	httpsSrv := httptest.NewUnstartedServer(d)
	httpsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	httpsSrv.EnableHTTP2 = true
	httpsSrv.StartTLS()
	defer httpsSrv.Close()
	plainSrv := httptest.NewServer(d)
	defer plainSrv.Close()
	httpsPort, plainPort := port(httpsSrv.Listener.Addr().String()), port(plainSrv.Listener.Addr().String())

	e := &env{t: t, service: freeAddr(t)}
	args := []string{"--header", "x-test-id"}
	if noStatements {
		args = append(args, "--no-statements")
	}
	args = append(args, "--", bin, "-addr", e.service, "-port", strconv.Itoa(httpsPort), "-ca", ca,
		"-plain", plainSrv.Listener.Addr().String(), "-authorization", d.auth, "-cookie", d.cookie)
	h := startHelper(t, args...)
	h.waitReady()
	waitFor(t, "the service to listen", 20*time.Second, func() bool { return listening.MatchString(h.stderr.String()) })

	codes := []int{200, 404, 503}
	routes := []func(i int) string{
		func(i int) string { return fmt.Sprintf("/call/%d/%d", codes[(i/4)%3], i) },
		func(i int) string { return fmt.Sprintf("/call2/%d/%d", codes[(i/4)%3], i) },
		func(i int) string { return fmt.Sprintf("/raw/%d", i) },
		func(i int) string { return fmt.Sprintf("/plain/%d", i) },
	}
	const total = 72
	e.run(total, 12, func(i int) string { return routes[i%len(routes)](i) })
	waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
	rs := h.stop()
	if d.secrets != total || d.h2 != total/len(routes) {
		t.Fatalf("%d calls brought the Authorization and Cookie values, want %d; %d over HTTP/2, want %d", d.secrets, total, d.h2, total/len(routes))
	}

	reqs := map[string]record{}
	for _, r := range byType(rs, "request") {
		reqs[r.ID] = r
	}
	calls, raws, plains := map[key]int{}, map[key]int{}, map[key]int{}
	for _, r := range byType(rs, "outbound") {
		if r.Dport != httpsPort && r.Dport != plainPort {
			continue
		}
		var req record
		if r.Request != nil {
			req = reqs[*r.Request]
		}
		k := key{req.Headers["x-test-id"], r.Sport}
		what := fmt.Sprintf("%s %v via %s (op %+v, remote %+v)", req.Path, k, r.Via, r.Op, r.Remote)
		switch {
		case r.Via == "http":
			calls[k]++
			var code int
			_, rest, _ := strings.Cut(strings.TrimPrefix(req.Path, "/"), "/") // /call/CODE/N, /call2/CODE/N
			if _, err := fmt.Sscanf(rest, "%d/", &code); err != nil {
				t.Errorf("%s: no call of a /call or /call2 request", what)
			}
			host := fmt.Sprintf("api.test:%d", httpsPort)
			if r.Op == nil || r.Op.ServerName != "api.test" || r.Op.Host != host || r.Op.Scheme != "https" ||
				r.Op.Path != fmt.Sprintf("/status/%d", code) || r.Op.Status != code || r.Op.Failed {
				t.Errorf("%s: want server name api.test, host %s, status %d", what, host, code)
			} else if r.Op.DurationNs <= 0 || r.Op.DurationNs > req.EndNs-req.StartNs {
				t.Errorf("%s: duration %d ns, want more than 0 and at most the request's %d", what, r.Op.DurationNs, req.EndNs-req.StartNs)
			}
			if r.Remote == nil || r.Remote.Name != host {
				t.Errorf("%s: want remote %s", what, host)
			}
		case r.Via == "write" && r.Dport == httpsPort:
			raws[k] = 1 // a connection's exchanges: one or more writes
			if r.Op == nil || r.Op.Protocol != "tls" || r.Op.ServerName != "api.test" {
				t.Errorf("%s: want a tls exchange with server name api.test", what)
			}
			if want := fmt.Sprintf("api.test:%d", httpsPort); r.Remote == nil || r.Remote.Name != want {
				t.Errorf("%s: want remote %s (the server name; the service gave no dialer an address)", what, want)
			}
		case r.Via == "write":
			plains[k]++
			if r.Op == nil || r.Op.Protocol != "http" || r.Op.Method != "GET" || r.Op.Path != "/plain" || r.Op.ServerName != "" {
				t.Errorf("%s: want GET /plain", what)
			}
		case r.Via == "connect" && r.Dport == httpsPort:
			if !strings.HasPrefix(req.Path, "/raw/") {
				t.Errorf("%s: a connect to the HTTPS downstream reported apart from a /raw request's", what)
			}
		case r.Via == "connect" && r.Request != nil:
			t.Errorf("%s: the plain connection was opened at the service's start", what)
		}
	}
	for _, c := range []struct {
		what   string
		traced map[key]int
		kind   string
	}{{"HTTPS calls", calls, "/status"}, {"TLS exchanges", raws, "/raw"}, {"plain exchanges", plains, "/plain"}} {
		seen := d.snapshot(c.kind)
		if c.kind == "/raw" {
			for k := range seen {
				seen[k] = 1
			}
		}
		p, rc := score(t, c.what, c.traced, seen)
		if p != 1 || rc != 1 {
			t.Errorf("%s: precision %.4f and recall %.4f must both be 1", c.what, p, rc)
		}
	}
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{d.auth[len("Bearer "):], d.cookie[len("session="):]} {
			if strings.Contains(string(b), v) {
				t.Errorf("a header value sent downstream is in a record: %s", b)
			}
		}
	}
	checkLost(t, rs)
}
