package probe

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
)

// Full LRU maps evict, and the stats count it: the probes watch this test
// process, whose threads connect one after another, each from a thread of
// its own, to a listener here. Each thread is a new key of
// connect_by_thread (its second connect finds its key), each connection a
// new key of outbound_conns; neither map deletes. So with both maps made
// small, evictions = keys inserted - entries left, exactly.
func TestLRUEvictionsCounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	const size, threads = 16, 100
	p, err := Load(Attachment{PID: os.Getpid(), Exe: "/proc/self/exe",
		MaxEntries: map[string]uint32{"connect_by_thread": size, "outbound_conns": size}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	tids := map[int]bool{}
	conns := 0
	for i := 0; i < threads; i++ {
		done := make(chan int)
		go func() {
			// The thread ends with the goroutine that holds it: the next
			// goroutine gets another.
			runtime.LockOSThread()
			for j := 0; j < 2; j++ {
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					t.Error(err)
					break
				}
				c.Close()
			}
			done <- syscall.Gettid()
		}()
		tids[<-done] = true
		conns += 2
	}
	if t.Failed() {
		return
	}

	entries := func(m *ebpf.Map) uint64 {
		var n uint64
		key, value := make([]byte, m.KeySize()), make([]byte, m.ValueSize())
		for it := m.Iterate(); it.Next(&key, &value); {
			n++
		}
		return n
	}
	want := map[string]uint64{"connect_by_thread": uint64(len(tids)), "outbound_conns": uint64(conns)}
	left := map[string]uint64{"connect_by_thread": entries(p.objs.ConnectByThread), "outbound_conns": entries(p.objs.OutboundConns)}
	seen := 0
	for _, u := range p.MapUse() {
		inserted, ok := want[u.Map]
		if !ok {
			if u.Evictions != nil && *u.Evictions != 0 {
				t.Errorf("%s: %d evictions, want 0", u.Map, *u.Evictions)
			}
			continue
		}
		seen++
		if u.Evictions == nil {
			t.Errorf("%s: evictions not counted", u.Map)
			continue
		}
		t.Logf("%s: %d keys inserted, %d entries of %d, %d evictions", u.Map, inserted, u.Entries, u.Max, *u.Evictions)
		if u.Max != size || u.Entries != left[u.Map] || u.Entries == 0 || u.Entries > size {
			t.Errorf("%s: %d entries of %d, want %d (iterated) of %d", u.Map, u.Entries, u.Max, left[u.Map], size)
		}
		if w := inserted - left[u.Map]; *u.Evictions != w || w == 0 {
			t.Errorf("%s: %d evictions, want %d inserted - %d entries = %d (> 0)", u.Map, *u.Evictions, inserted, left[u.Map], w)
		}
	}
	if seen != len(want) {
		t.Errorf("MapUse has %d of the maps %v", seen, want)
	}
}
