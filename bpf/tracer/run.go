package tracer

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
)

// drainEvery is how often Run reads the ring buffer. The probes never
// wake the reader, and a reader blocked in epoll_wait holds its Go
// processor in a system call, which the runtime's sysmon takes back every
// 10 ms and then checks again every 20 µs: thousands of wakeups a second
// on the traced service's CPUs. Sleeping on a Go timer instead parks the
// thread in the runtime's own poller. Each wakeup still costs a fixed amount (the first system
// call after an idle spell sets sysmon checking every 20 µs for a
// millisecond), so the timer is no faster than the records need: 50 ms,
// the longest a record waits to be written (the editor shows them four
// times a second), and 10 ms after a drain that read busyBytes or more,
// so that the 8 MiB buffer holds what comes meanwhile at any rate the
// helper keeps up with.
const (
	drainEvery     = 50 * time.Millisecond
	busyDrainEvery = 10 * time.Millisecond
	busyBytes      = 512 << 10
)

// Run reads the probes' ring buffer until ctx is done, writing records,
// with a stats record every statsEvery and a last one after draining.
// One goroutine does everything, so the Tracer needs no locks.
func Run(ctx context.Context, p *probe.Probe, t *Tracer, statsEvery time.Duration) error {
	var rec ringbuf.Record
	nextStats := time.Now().Add(statsEvery)
	var maps mapUse
	// writeStats writes a stats record; final: the last, its maps counted now.
	writeStats := func(final bool) {
		s := t.Stats(p.Lost())
		s.Maps = maps.get(p, final)
		t.Out.Record(&s, "", "")
	}
	// A deadline in the past: a read returns what the buffer holds, then
	// os.ErrDeadlineExceeded, and never waits.
	p.Reader.SetDeadline(time.Unix(1, 0))
	timer := time.NewTimer(drainEvery)
	defer timer.Stop()
	for {
		stopping := ctx.Err() != nil
		read, more, err := drain(p, t, &rec)
		if errors.Is(err, ringbuf.ErrClosed) {
			t.FlushCalls()
			return t.Out.Flush()
		}
		if err != nil {
			return err
		}
		if stopping {
			t.FlushCalls()
			writeStats(true)
			return t.Out.Flush()
		}
		if now := time.Now(); now.After(nextStats) {
			writeStats(false)
			nextStats = now.Add(statsEvery)
		}
		t.Out.Flush()
		if more {
			continue
		}
		if read >= busyBytes {
			timer.Reset(busyDrainEvery)
		} else {
			timer.Reset(drainEvery)
		}
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
}

// maxDrain bounds the records one drain handles, so that stats records
// and flushes stay due under a load that refills the buffer as it is read.
const maxDrain = 1 << 16

// drain handles the records the ring buffer holds, without waiting for
// more; read: the bytes it held; more: it stopped at maxDrain.
func drain(p *probe.Probe, t *Tracer, rec *ringbuf.Record) (read int, more bool, err error) {
	read = p.Reader.AvailableBytes()
	if read == 0 {
		return 0, false, nil // not even the reader's epoll_wait
	}
	for range maxDrain {
		if err := p.Reader.ReadInto(rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return read, false, nil
			}
			return read, false, err
		}
		t.Handle(rec.RawSample)
	}
	return read, true, nil
}

// mapsEvery is how often stats records count the maps' entries anew: a
// full goroutine_request takes tens of milliseconds of system calls.
const mapsEvery = 30 * time.Second

// mapUse is the probes' map use as last counted.
type mapUse struct {
	at   time.Time
	maps []records.MapUse
}

// get counts anew when now is true or the last count is mapsEvery old.
func (m *mapUse) get(p *probe.Probe, now bool) []records.MapUse {
	if now || m.maps == nil || time.Since(m.at) >= mapsEvery {
		m.maps, m.at = p.MapUse(), time.Now()
	}
	return m.maps
}
