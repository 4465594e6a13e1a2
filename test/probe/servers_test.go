package probe_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"outboundlens/test/probe/servers"
)

// concurrently runs f(i) for i in [0, n) on `width` goroutines at a time.
func concurrently(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}(i)
	}
	wg.Wait()
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// The ground truth the database and cache scenarios check the tracer
// against, checked on its own (no tracer): real PostgreSQL and Redis, the
// sample with its pools opened before serving, and every statement and
// command found with the client port of the sample's own connection. The
// worker-pool, lazy-worker and after-the-handler routes reach the
// downstream with the request's X-Test-Id.
func TestServersGroundTruth(t *testing.T) {
	if err := servers.Ensure("test"); err != nil {
		t.Fatal(err)
	}
	pg, err := servers.StartPostgres(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	rd, err := servers.StartRedis(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rd.Stop(); err != nil {
			t.Errorf("stopping Redis: %v", err)
		}
	})
	mon, err := rd.Monitor()
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, "local")
	e.sampleArgs = []string{"-pg", pg.DSN, "-redis", rd.Addr}
	argv := e.sampleArgv()
	sample := start(t, argv[0], argv[1:]...)
	pid := sample.cmd.Process.Pid

	// The pools' connections exist before the first request.
	pgBefore, err := servers.ClientPorts(pid, pg.Port)
	if err != nil {
		t.Fatal(err)
	}
	if len(pgBefore) < 4 {
		t.Fatalf("the sample holds %d PostgreSQL connections before serving, want 4 or more", len(pgBefore))
	}
	redisBefore, err := servers.ClientPorts(pid, rd.Port)
	if err != nil {
		t.Fatal(err)
	}
	if len(redisBefore) < 1 {
		t.Fatal("the sample holds no Redis connection before serving")
	}

	const n = 24
	concurrently(n, 8, func(i int) { e.get("/db/7", "db-"+strconv.Itoa(i), nil) })
	concurrently(n, 8, func(i int) { e.get("/cache/7", "cache-"+strconv.Itoa(i), nil) })
	// The same statement and command from another client: the port check must tell them apart.
	if out, err := exec.Command(filepath.Join(psqlDir(t), "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", "-Atc", "SELECT 'ol-req-7'").CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if _, err := rd.Do("GET", "ol-req-7"); err != nil {
		t.Fatal(err)
	}

	pgPorts, err := servers.ClientPorts(pid, pg.Port)
	if err != nil {
		t.Fatal(err)
	}
	sts, err := pg.Statements()
	if err != nil {
		t.Fatal(err)
	}
	mine, other, reused := 0, 0, 0
	for _, s := range sts {
		if s.Text != "SELECT 'ol-req-7'" {
			continue
		}
		if s.Host != "127.0.0.1" || s.Port == 0 {
			t.Errorf("statement without a TCP client: %+v", s)
		}
		switch {
		case pgPorts[s.Port]:
			mine++
		default:
			other++
		}
		if pgBefore[s.Port] {
			reused++
		}
	}
	if mine != n || other != 1 {
		t.Errorf("PostgreSQL logged SELECT 'ol-req-7' %d times from the sample's connections %v and %d from others; want %d and 1\n%+v", mine, pgPorts, other, n, sts)
	}
	if reused == 0 {
		t.Errorf("no /db/7 query went out on a connection the pool opened before serving %v", pgBefore)
	}
	t.Logf("PostgreSQL: %d × SELECT 'ol-req-7' from the sample's ports %v, %d of them on connections opened before serving %v", mine, pgPorts, reused, pgBefore)

	if err := mon.Sync(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := mon.Err(); err != nil {
		t.Errorf("MONITOR: %v", err)
	}
	redisPorts, err := servers.ClientPorts(pid, rd.Port)
	if err != nil {
		t.Fatal(err)
	}
	mine, other = 0, 0
	cmds := mon.Commands()
	for _, c := range cmds {
		if c.Name != "GET" || c.Key != "ol-req-7" {
			continue
		}
		if redisPorts[c.Port] {
			mine++
		} else {
			other++
		}
	}
	if mine != n || other != 1 {
		t.Errorf("Redis ran GET ol-req-7 %d times from the sample's connections %v and %d from others; want %d and 1\n%+v", mine, redisPorts, other, n, cmds)
	}

	t.Logf("Redis: %d × GET ol-req-7 from the sample's ports %v (before serving: %v)", mine, redisPorts, redisBefore)

	// Worker goroutines and a call after the handler returned.
	const m = 8
	routes := []string{"pool", "lazy", "forget"}
	answered := map[string]time.Time{}
	var mu sync.Mutex
	for _, route := range routes {
		concurrently(m, 4, func(i int) {
			id := route + "-" + strconv.Itoa(i)
			e.get("/"+route+"/"+strconv.Itoa(i), id, nil)
			mu.Lock()
			answered[id] = time.Now()
			mu.Unlock()
		})
	}
	want := len(routes) * m
	var got map[string][]truth
	waitFor(t, "every downstream call", 10*time.Second, func() bool {
		got = map[string][]truth{}
		for _, tr := range e.truth() {
			got[tr.TestID] = append(got[tr.TestID], tr)
		}
		return len(got) >= want
	})
	downPorts, err := servers.ClientPorts(pid, portOf(t, e.down))
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range routes {
		for i := 0; i < m; i++ {
			id := route + "-" + strconv.Itoa(i)
			trs := got[id]
			if len(trs) != 1 {
				t.Errorf("%s: %d downstream calls, want 1: %+v", id, len(trs), trs)
				continue
			}
			tr := trs[0]
			if tr.Path != "/"+route+"/"+strconv.Itoa(i) || tr.CallerRoute != "/"+route+"/:n" {
				t.Errorf("%s: downstream saw %+v", id, tr)
			}
			if !downPorts[tr.RemotePort] {
				t.Errorf("%s: from port %d, not one of the sample's connections to the downstream %v", id, tr.RemotePort, downPorts)
			}
			if route == "forget" && tr.AtNs <= answered[id].UnixNano() {
				t.Errorf("%s: the downstream call came before the response (%d <= %d)", id, tr.AtNs, answered[id].UnixNano())
			}
		}
	}
	if len(got) != want {
		t.Errorf("the downstream saw %d test ids, want %d: %v", len(got), want, got)
	}
}

// psqlDir is where the installed PostgreSQL's psql is.
func psqlDir(t testing.TB) string {
	t.Helper()
	dir, err := servers.PostgresBin()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
