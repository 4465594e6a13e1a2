// Command downstream is the stand-in for the services the sample calls. It
// answers every HTTP request with a small JSON body, answers raw TCP
// connections with one line, and records what it saw as ground truth that
// tests can fetch from /truth.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// record is one observed request or raw connection.
type record struct {
	Kind        string `json:"kind"` // "http" or "raw"
	TestID      string `json:"testId"`
	CallerRoute string `json:"callerRoute"`
	Path        string `json:"path"`
	RemoteAddr  string `json:"remoteAddr"`
	RemotePort  int    `json:"remotePort"`
	AtNs        int64  `json:"atNs"`
}

// truth is the mutex-guarded list of records: the newest maxTruth (a
// benchmark drives millions of calls; a test's fit many times over).
type truth struct {
	mu      sync.Mutex
	records []record
}

const maxTruth = 200_000

func (t *truth) add(r record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.records) >= maxTruth {
		n := copy(t.records, t.records[len(t.records)-maxTruth/2:])
		clear(t.records[n:])
		t.records = t.records[:n]
	}
	t.records = append(t.records, r)
}

func (t *truth) snapshot() []record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]record, len(t.records))
	copy(out, t.records)
	return out
}

func (t *truth) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records = nil
}

// portOf returns the numeric port of a host:port address, or 0.
func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write response: %v", err)
	}
}

func (t *truth) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/truth", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, t.snapshot())
	})
	mux.HandleFunc("/truth/reset", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		t.reset()
		writeJSON(w, map[string]bool{"ok": true})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.add(record{
			Kind:        "http",
			TestID:      r.Header.Get("X-Test-Id"),
			CallerRoute: r.Header.Get("X-Caller-Route"),
			Path:        r.URL.Path,
			RemoteAddr:  r.RemoteAddr,
			RemotePort:  portOf(r.RemoteAddr),
			AtNs:        time.Now().UnixNano(),
		})
		// /status/N answers status N; ?delay=MS answers that late.
		if ms, err := strconv.Atoi(r.URL.Query().Get("delay")); err == nil && ms > 0 && ms <= 10000 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if n, err := strconv.Atoi(code); err == nil && n >= 200 && n <= 599 {
				w.WriteHeader(n)
			}
		}
		writeJSON(w, map[string]any{"path": r.URL.Path, "ok": true})
	})
	return mux
}

// serveRaw accepts raw TCP connections: each sends one line (its test id),
// gets "ok\n" back and is closed.
func (t *truth) serveRaw(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("raw accept: %v", err)
			continue
		}
		go t.handleRaw(conn)
	}
}

func (t *truth) handleRaw(conn net.Conn) {
	defer conn.Close()
	at := time.Now().UnixNano()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))

	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && line == "" {
		log.Printf("raw read: %v", err)
		return
	}
	remote := conn.RemoteAddr().String()
	t.add(record{
		Kind:       "raw",
		TestID:     strings.TrimSpace(line),
		RemoteAddr: remote,
		RemotePort: portOf(remote),
		AtNs:       at,
	})
	if _, err := conn.Write([]byte("ok\n")); err != nil {
		log.Printf("raw write: %v", err)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "HTTP address to listen on")
	raw := flag.String("raw", "127.0.0.1:8082", "raw TCP address to listen on (empty = off)")
	flag.Parse()

	t := &truth{}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	if *raw != "" {
		rawLn, err := net.Listen("tcp", *raw)
		if err != nil {
			log.Fatalf("listen raw: %v", err)
		}
		go t.serveRaw(rawLn)
	}
	// Both listeners are bound: announce the HTTP address.
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())

	srv := &http.Server{Handler: t.handler(), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}
