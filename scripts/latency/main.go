//go:build linux

// Command latency sends GET requests to one URL at a fixed rate, open loop,
// and prints their latency as JSON. Request i is scheduled at t0 + i/rate
// and its latency runs from that scheduled time to the end of its response,
// so a request that waits for a free connection, because the server is slow
// to answer the ones before it, counts its wait (no coordinated omission).
//
//	latency -url http://127.0.0.1:18090/health -rate 2000 -conns 8 -seconds 8
//
// Each connection is a kept-alive HTTP/1.1 connection served by its own
// thread with blocking syscalls: it takes the next request's number, sleeps
// in clock_nanosleep until its scheduled time (timer slack 1 ns; Go's timers
// wake up to a millisecond late here), writes the request and reads the
// response. Requests never sent by the end of the grace period after the last
// scheduled one are reported as unsent: the server could not keep up.
//
// It prints one JSON object: scheduled, sent, ok and errors (requests),
// unsent (never sent: the server fell behind), seconds (the run's length),
// and in µs p50, p90, p99, p99.9 and max (exact percentiles of the
// successful requests' latencies) and lag_p99: the 99th percentile of how
// late a request was written after its scheduled time (the generator's own
// wake-up, or no free connection); last_error when there were errors.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	clockMonotonic   = 1 // CLOCK_MONOTONIC, the clock Go's monotonic time reads
	timerAbstime     = 1 // TIMER_ABSTIME
	prSetTimerslack  = 29
	maxResponseBytes = 1 << 20
)

type result struct {
	latency []int64 // ns, scheduled time to the end of the response
	lag     []int64 // ns, scheduled time to the request's write
	sent    int
	errors  int
	lastErr error
}

type gen struct {
	addr     syscall.Sockaddr
	family   int
	request  []byte
	interval float64 // ns between scheduled requests
	total    int64   // requests scheduled
	stopAt   int64   // ns after t0: no request is started after this
	timeout  time.Duration
	next     atomic.Int64
	t0       int64 // CLOCK_MONOTONIC, ns
}

func main() {
	rawURL := flag.String("url", "", "the URL to GET (http only)")
	rate := flag.Float64("rate", 1000, "requests per second")
	conns := flag.Int("conns", 8, "kept-alive connections (requests in flight at most)")
	seconds := flag.Float64("seconds", 8, "seconds of scheduled requests")
	grace := flag.Float64("grace", 2, "seconds after the last scheduled request before unsent ones are given up")
	timeout := flag.Duration("timeout", 2*time.Second, "the longest wait for a response")
	flag.Parse()
	if err := run(*rawURL, *rate, *conns, *seconds, *grace, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(rawURL string, rate float64, conns int, seconds, grace float64, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url: want http://host:port/path, got %q", rawURL)
	}
	if rate <= 0 || conns <= 0 || seconds <= 0 {
		return errors.New("-rate, -conns and -seconds must be positive")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	tcp, err := net.ResolveTCPAddr("tcp", host)
	if err != nil {
		return err
	}
	g := &gen{
		request:  []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: outbound-lens-latency\r\n\r\n"),
		interval: 1e9 / rate,
		total:    int64(math.Floor(rate * seconds)),
		stopAt:   int64((seconds + grace) * 1e9),
		timeout:  timeout,
	}
	if ip4 := tcp.IP.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: tcp.Port}
		copy(sa.Addr[:], ip4)
		g.addr, g.family = sa, syscall.AF_INET
	} else {
		sa := &syscall.SockaddrInet6{Port: tcp.Port}
		copy(sa.Addr[:], tcp.IP.To16())
		g.addr, g.family = sa, syscall.AF_INET6
	}

	// Every connection's thread blocks in syscalls; a P for each, and two
	// to spare, lets each one return from a syscall without waiting for
	// the runtime to take a P back from another.
	runtime.GOMAXPROCS(conns + 2)
	fds := make([]int, conns)
	for i := range fds {
		if fds[i], err = g.dial(); err != nil {
			return err
		}
	}
	g.t0 = monotonic() + int64(20*time.Millisecond)

	results := make([]result, conns)
	var wg sync.WaitGroup
	for i := range fds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.worker(fds[i], &results[i])
		}()
	}
	wg.Wait()
	elapsed := time.Duration(g.now())

	var all, lags []int64
	sent, errs := 0, 0
	var lastErr error
	for _, r := range results {
		all = append(all, r.latency...)
		lags = append(lags, r.lag...)
		sent += r.sent
		errs += r.errors
		if r.lastErr != nil {
			lastErr = r.lastErr
		}
	}
	slices.Sort(all)
	slices.Sort(lags)
	us := func(xs []int64, p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		i := int(math.Ceil(p/100*float64(len(xs)))) - 1
		return math.Round(float64(xs[max(i, 0)])/100) / 10
	}
	out := map[string]any{
		"scheduled": g.total,
		"sent":      sent,
		"ok":        len(all),
		"errors":    errs,
		"unsent":    int(g.total) - sent,
		"seconds":   math.Round(elapsed.Seconds()*1000) / 1000,
	}
	if len(all) > 0 {
		for _, p := range []struct {
			key string
			p   float64
		}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 100}} {
			out[p.key] = us(all, p.p)
		}
		out["lag_p99"] = us(lags, 99)
	}
	if lastErr != nil {
		out["last_error"] = lastErr.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// dial opens a blocking TCP connection, its connect, writes and reads each
// bounded by the timeout.
func (g *gen) dial() (int, error) {
	fd, err := syscall.Socket(g.family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.NsecToTimeval(g.timeout.Nanoseconds())
	if err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err == nil {
		err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	}
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	if err == nil {
		for {
			// A connect interrupted by a signal goes on; calling it again
			// waits for it (EISCONN when it is done, EALREADY if it
			// times out, as the first call's EINPROGRESS would).
			err = syscall.Connect(fd, g.addr)
			if err != syscall.EINTR {
				break
			}
		}
		if err == syscall.EISCONN {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("connect: %w", err)
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// monotonic reads CLOCK_MONOTONIC, the clock clock_nanosleep sleeps on. Not
// time.Now: its reading and this clock's, taken one after the other, may be
// apart by however long the thread was preempted in between.
func monotonic() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// now is the time since t0 in ns.
func (g *gen) now() int64 { return monotonic() - g.t0 }

func (g *gen) worker(fd int, r *result) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, 1, 0) // this thread's sleeps end on time
	br := bufio.NewReaderSize(fdReader(fd), 64<<10)
	defer func() {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}()
	for {
		i := g.next.Add(1) - 1
		if i >= g.total {
			return
		}
		sched := int64(float64(i) * g.interval)
		if g.now() > g.stopAt {
			return // the server fell behind: this and later requests are unsent
		}
		sleepUntil(g.t0 + sched)
		if fd < 0 {
			var err error
			if fd, err = g.dial(); err != nil {
				r.sent++
				r.errors++
				r.lastErr = err
				continue
			}
			br.Reset(fdReader(fd))
		}
		r.lag = append(r.lag, g.now()-sched)
		r.sent++
		keep, err := g.roundTrip(fd, br)
		end := g.now()
		if err != nil {
			r.errors++
			r.lastErr = err
		} else {
			r.latency = append(r.latency, end-sched)
		}
		if err != nil || !keep {
			syscall.Close(fd)
			fd = -1
		}
	}
}

// sleepUntil sleeps until the CLOCK_MONOTONIC time t (ns).
func sleepUntil(t int64) {
	ts := syscall.NsecToTimespec(t)
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_CLOCK_NANOSLEEP, clockMonotonic, timerAbstime, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// fdReader reads a blocking socket; a read past its SO_RCVTIMEO fails.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errors.New("timed out waiting for the response")
		case err != nil:
			return 0, fmt.Errorf("read: %w", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// roundTrip writes the request and reads one whole response (Content-Length
// or chunked body) with net/http's parser. It returns whether the
// connection stays open, and an error for a failure or a status other than
// 2xx.
func (g *gen) roundTrip(fd int, br *bufio.Reader) (keep bool, err error) {
	for w := g.request; len(w) > 0; {
		n, err := syscall.Write(fd, w)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("write: %w", err)
		}
		w = w[n:]
	}
	resp, err := http.ReadResponse(br, nil)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false, errors.New("connection closed by the server")
	}
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.ContentLength < 0 && !slices.Contains(resp.TransferEncoding, "chunked") {
		return false, errors.New("response without Content-Length or chunked body")
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		return false, err
	case n > maxResponseBytes:
		return false, errors.New("response too large")
	case br.Buffered() > 0:
		return false, errors.New("bytes after the response")
	}
	keep = !resp.Close
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return keep, fmt.Errorf("status %d", resp.StatusCode)
	}
	return keep, nil
}
