package probe_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"outboundlens/bpf/records"
	"outboundlens/test/probe/servers"
)

// badGateway traces the sample with down as its downstream, makes one
// /status/200 request, which must answer 502, and returns the records.
func badGateway(t *testing.T, toolchain, down, raw, what string) []record {
	t.Helper()
	e := &env{t: t, toolchain: toolchain, down: down, raw: raw, service: freeAddr(t)}
	h := e.launch()
	resp, err := http.Get("http://" + e.service + "/status/200")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d from %s, want 502", resp.StatusCode, what)
	}
	waitFor(t, "the request", 10*time.Second, func() bool { return h.count("request") >= 1 })
	return h.stop()
}

// score compares the traced uses (request's test id, client port) with
// what the other side saw, use for use: precision over the traced, recall
// over the seen. It reports each mismatch.
func score(t *testing.T, what string, traced, seen map[key]int) (precision, recall float64) {
	t.Helper()
	tp, tracedN, found, seenN := 0, 0, 0, 0
	keys := func(m map[key]int) []key {
		var ks []key
		for k := range m {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(i, j int) bool { return fmt.Sprint(ks[i]) < fmt.Sprint(ks[j]) })
		return ks
	}
	for _, k := range keys(traced) {
		n := traced[k]
		tracedN += n
		if m := seen[k]; m < n {
			t.Errorf("%s: traced %d uses for %v, the server saw %d", what, n, k, m)
			n = m
		}
		tp += n
	}
	for _, k := range keys(seen) {
		n := seen[k]
		seenN += n
		if traced[k] < n {
			t.Errorf("%s: the server saw %d uses for %v, traced %d", what, n, k, traced[k])
			n = traced[k]
		}
		found += n
	}
	if tracedN == 0 || seenN == 0 {
		t.Fatalf("%s: %d traced, %d seen: nothing to compare", what, tracedN, seenN)
	}
	return float64(tp) / float64(tracedN), float64(found) / float64(seenN)
}

// testIDs maps request ids to the X-Test-Id they carried.
func testIDs(rs []record) map[string]string {
	m := map[string]string{}
	for _, r := range byType(rs, "request") {
		m[r.ID] = r.Headers["x-test-id"]
	}
	return m
}

// run sends total requests, inFlight at a time; path(i) names each.
func (e *env) run(total, inFlight int, path func(i int) string) {
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			e.get(path(i), fmt.Sprintf("t%d", i), nil)
		}(i)
	}
	wg.Wait()
}

// TestWorkersAndContext: calls made for a request by goroutines it did not
// start (a pool started with the service, a worker the first request
// started and every later one uses) carry the request's context, and are
// its; a goroutine a request started keeps the request after it ended,
// though it calls with context.Background(). 32 requests in flight; the
// downstream's own view is the truth.
func TestWorkersAndContext(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		e := newEnv(t, toolchain)
		h := e.launch()
		routes := []string{"/pool/%d", "/lazy/%d", "/forget/%d", "/echo"}
		const total = 240
		e.run(total, 32, func(i int) string {
			p := routes[i%len(routes)]
			if p != "/echo" {
				p = fmt.Sprintf(p, i)
			}
			return p
		})
		waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
		waitFor(t, "the late calls", 10*time.Second, func() bool { return len(e.truth()) >= total })
		ts := e.truth()
		rs := h.stop()

		ids := testIDs(rs)
		traced := map[key]int{}
		for _, r := range byType(rs, "outbound") {
			if r.Dport != port(e.down) {
				continue
			}
			id := "none"
			if r.Request != nil {
				id = ids[*r.Request]
			}
			traced[key{id, r.Sport}]++
		}
		seen := map[key]int{}
		for _, x := range ts {
			seen[key{x.TestID, x.RemotePort}]++
		}
		p, r := score(t, "downstream calls", traced, seen)
		t.Logf("%s: %d requests, precision %.4f recall %.4f", toolchain, total, p, r)
		if p != 1 || r != 1 {
			t.Fatalf("precision %.4f and recall %.4f must both be 1", p, r)
		}
		checkLost(t, rs)
	})
}

// dbWorld is a PostgreSQL and a Redis server, and the sample using both
// through pools it opened before any trace.
type dbWorld struct {
	e   *env
	pg  *servers.Postgres
	rd  *servers.Redis
	mon *servers.Monitor
	pid int
}

func newDBWorld(t *testing.T, toolchain string) *dbWorld {
	t.Helper()
	if err := servers.Ensure("test"); err != nil {
		t.Fatal(err)
	}
	w := &dbWorld{}
	var err error
	if w.pg, err = servers.StartPostgres(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.pg.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	if w.rd, err = servers.StartRedis(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.rd.Stop(); err != nil {
			t.Errorf("stopping Redis: %v", err)
		}
	})
	if w.mon, err = w.rd.Monitor(); err != nil {
		t.Fatal(err)
	}
	w.e = newEnv(t, toolchain)
	// Redis by name: connections the pool opens while traced are named so.
	w.e.sampleArgs = []string{"-pg", w.pg.DSN, "-redis", fmt.Sprintf("localhost:%d", w.rd.Port)}
	argv := w.e.sampleArgv()
	w.pid = start(t, argv[0], argv[1:]...).cmd.Process.Pid
	return w
}

// reqKey reads the request number the sample puts into its statement
// ("SELECT 'ol-req-7'") or key ("ol-req-7").
func reqKey(s string) (string, bool) {
	i := strings.Index(s, "ol-req-")
	if i < 0 {
		return "", false
	}
	n := strings.TrimRight(s[i+len("ol-req-"):], "'")
	return "t" + n, n != ""
}

// TestDatabaseAndCacheUses: a service traced by pid, whose PostgreSQL
// (database/sql) and Redis (go-redis) pools were opened before the trace,
// gets every query and command reported as a use of its connection,
// attributed to its request, with 32 requests in flight (so the pools also
// open connections while traced); also when a worker started with the
// service runs them with the request's context. Truth: PostgreSQL's
// statement log and Redis's MONITOR, each with the client's port.
func TestDatabaseAndCacheUses(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		w := newDBWorld(t, toolchain)
		h := startHelper(t, "--pid", fmt.Sprint(w.pid), "--header", "x-test-id")
		h.waitReady()

		const total = 256
		routes := []string{"/db/%d", "/cache/%d", "/dbpool/%d", "/cachepool/%d"}
		w.e.run(total, 32, func(i int) string { return fmt.Sprintf(routes[i%len(routes)], i) })
		waitFor(t, "all request records", 10*time.Second, func() bool { return h.count("request") >= total })
		rs := h.stop()
		sts, err := w.pg.Statements()
		if err != nil {
			t.Fatal(err)
		}

		ids := testIDs(rs)
		named := map[string]int{}
		for _, c := range []struct {
			name string
			port int
			seen map[key]int
		}{
			{"PostgreSQL", w.pg.Port, map[key]int{}},
			{"Redis", w.rd.Port, map[key]int{}},
		} {
			if c.port == w.pg.Port {
				for _, s := range sts {
					if id, ok := reqKey(s.Text); ok {
						c.seen[key{id, s.Port}]++
					}
				}
			} else {
				for _, cmd := range w.mon.Commands() {
					if id, ok := reqKey(cmd.Key); ok && cmd.Name == "GET" {
						c.seen[key{id, cmd.Port}]++
					}
				}
			}
			traced, opened := map[key]int{}, map[key]bool{}
			reused := 0
			dialed := map[int]bool{} // client ports of connections opened while traced
			for _, r := range byType(rs, "outbound") {
				if r.Dport == c.port && r.Via == "connect" {
					dialed[r.Sport] = true
				}
			}
			byName := 0
			for _, r := range byType(rs, "outbound") {
				if r.Dport != c.port || r.Via != "write" {
					continue
				}
				// The name the service dialed, where the trace saw the dial.
				wantName := fmt.Sprintf("%s:%d", r.Dst, r.Dport)
				if dialed[r.Sport] && c.port == w.rd.Port {
					wantName = fmt.Sprintf("localhost:%d", c.port)
					byName++
				}
				if r.Remote == nil || r.Remote.Name != wantName {
					t.Errorf("%s use on :%d: remote %+v, want name %q", c.name, r.Sport, r.Remote, wantName)
				}
				id := "none"
				if r.Request != nil {
					id = ids[*r.Request]
				}
				if r.Reused {
					traced[key{id, r.Sport}]++
					reused++
				} else {
					opened[key{id, r.Sport}] = true
				}
				if r.Request != nil && (r.CallSite == nil || !strings.HasSuffix(r.CallSite.File, "sample/main.go")) {
					t.Errorf("%s use without a call site in the sample: %+v", c.name, r)
				}
				// What went out names the request it is attributed to.
				if r.Op == nil {
					t.Errorf("%s use without op: %+v", c.name, r)
					continue
				}
				text := r.Op.Statement + r.Op.Key
				if n, ok := reqKey(text); ok {
					named[c.name]++
					if n != id {
						t.Errorf("%s use of %s names %q", c.name, id, text)
					}
					want := records.Op{Protocol: "postgresql", Verb: "SELECT", Statement: "SELECT 'ol-req-" + n[1:] + "'"}
					if c.port == w.rd.Port {
						want = records.Op{Protocol: "redis", Command: "GET", Key: "ol-req-" + n[1:]}
					}
					if *r.Op != want {
						t.Errorf("%s op %+v, want %+v", c.name, *r.Op, want)
					}
				}
			}
			// A connection a request opened while traced carries its
			// handshake's exchanges (Redis's HELLO) before the command, all
			// that request's own uses: there the pair (request, connection)
			// is checked, not the count.
			for k := range opened {
				if n := c.seen[k] - traced[k]; n > 0 {
					traced[k] += n
				} else if c.seen[k] == 0 {
					traced[k]++
				}
			}
			p, r := score(t, c.name, traced, c.seen)
			t.Logf("%s %s: %d uses seen, precision %.4f recall %.4f, %d on reused connections", toolchain, c.name, len(c.seen), p, r, reused)
			if p != 1 || r != 1 {
				t.Errorf("%s: precision %.4f and recall %.4f must both be 1", c.name, p, r)
			}
			if reused == 0 {
				t.Errorf("%s: no use on a connection opened before it", c.name)
			}
			if c.port == w.rd.Port && byName == 0 {
				t.Errorf("Redis: no use on a connection opened while traced, so no remote name was checked")
			}
			if named[c.name] != total/2 {
				t.Errorf("%s: %d uses name their statement or key, want %d", c.name, named[c.name], total/2)
			}
		}
		checkLost(t, rs)

		// With --no-statements the verb and the command stay, the text goes.
		h = startHelper(t, "--pid", fmt.Sprint(w.pid), "--no-statements")
		h.waitReady()
		w.e.run(8, 4, func(i int) string { return fmt.Sprintf(routes[i%2], 1000+i) })
		waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= 8 })
		var pg, rd int
		quiet := h.stop()
		for _, r := range byType(quiet, "outbound") {
			if r.Op == nil || r.Via != "write" {
				continue
			}
			if r.Op.Statement != "" || r.Op.Key != "" || r.Op.Truncated {
				t.Errorf("--no-statements: %+v", *r.Op)
			}
			if r.Op.Verb == "SELECT" {
				pg++
			}
			if r.Op.Command == "GET" {
				rd++
			}
		}
		if pg < 4 || rd < 4 {
			t.Errorf("--no-statements: %d SELECT and %d GET verbs, want 4 each", pg, rd)
		}
		if b, _ := json.Marshal(quiet); strings.Contains(string(b), "ol-req-") {
			t.Errorf("--no-statements: statement text in the records")
		}
	})
}

// TestHTTPCallStatus: an HTTP/1 call's record names its response's status
// (200, 404, 503) and its duration, at least the delay the downstream
// itself waited and at most the inbound request's own time; a call whose
// connection gives no response is failed. 8 in flight.
func TestHTTPCallStatus(t *testing.T) {
	eachToolchain(t, func(t *testing.T, toolchain string) {
		e := newEnv(t, toolchain)
		h := e.launch()
		codes, delays := []int{200, 404, 503}, []int{0, 40, 5}
		const total = 30
		e.run(total, 8, func(i int) string { return fmt.Sprintf("/status/%d?ms=%d", codes[i%3], delays[i%3]) })
		waitFor(t, "the requests", 10*time.Second, func() bool { return h.count("request") >= total })
		rs := h.stop()

		reqs := map[string]record{}
		for _, r := range byType(rs, "request") {
			reqs[r.ID] = r
		}
		n := 0
		for _, r := range byType(rs, "outbound") {
			if r.Via != "http" || r.Request == nil {
				continue
			}
			req := reqs[*r.Request]
			var code, ms int
			if _, err := fmt.Sscanf(req.Path, "/status/%d", &code); err != nil {
				continue
			}
			for i, c := range codes {
				if c == code {
					ms = delays[i]
				}
			}
			n++
			if r.Op == nil || r.Op.Status != code || r.Op.Failed || r.Op.Path != fmt.Sprintf("/status/%d", code) {
				t.Errorf("%s: op %+v, want status %d", req.Path, r.Op, code)
				continue
			}
			if d := time.Duration(r.Op.DurationNs); d < time.Duration(ms)*time.Millisecond || r.Op.DurationNs > req.EndNs-req.StartNs {
				t.Errorf("%s: duration %v, want at least the downstream's %d ms and at most the request's %v", req.Path, d, ms, time.Duration(req.EndNs-req.StartNs))
			}
		}
		if n != total {
			t.Errorf("%d calls with a status, want %d", n, total)
		}
		checkLost(t, rs)

		// A "downstream" that answers a line that is no HTTP (the raw TCP
		// endpoint) and hangs up: the call fails, with no status.
		failed := 0
		for _, r := range byType(badGateway(t, toolchain, e.raw, e.raw, "a downstream that is no HTTP server"), "outbound") {
			if r.Via == "http" {
				if r.Op == nil || !r.Op.Failed || r.Op.Status != 0 {
					t.Errorf("a failed call's op %+v, want failed", r.Op)
				}
				failed++
			}
		}
		if failed != 1 {
			t.Errorf("%d failed calls recorded, want 1", failed)
		}

		// A downstream no one listens on: the connect is refused, and the
		// request that tried it has a failed connect with the kernel's
		// reason and the tuple it tried.
		closed := freeAddr(t)
		rs = badGateway(t, toolchain, closed, e.raw, "a downstream no one listens on")
		var req *record
		for _, r := range byType(rs, "request") {
			if r.Path == "/status/200" {
				req = &r
			}
		}
		if req == nil {
			t.Fatal("no record of the request")
		}
		_, port, _ := net.SplitHostPort(closed)
		n = 0
		for _, r := range byType(rs, "outbound") {
			if r.Via == "http" {
				t.Errorf("a call whose connection was refused has a round trip: %+v", r)
				continue
			}
			if strconv.Itoa(r.Dport) != port {
				continue
			}
			n++
			if r.Via != "connect" || r.Op == nil || !r.Op.Failed || r.Op.Error != "connection refused" || r.Op.Protocol != "tcp" {
				t.Errorf("the refused connect's record: via %s op %+v", r.Via, r.Op)
			}
			if r.Request == nil || *r.Request != req.ID || r.Sport == 0 || r.Remote == nil || r.Remote.Name != closed {
				t.Errorf("the refused connect: request %v (want %s), sport %d, remote %+v (want %s)", r.Request, req.ID, r.Sport, r.Remote, closed)
			}
		}
		if n == 0 {
			t.Error("no record of the refused connect")
		}
	})
}
