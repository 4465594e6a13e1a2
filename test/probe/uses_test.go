package probe_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

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
