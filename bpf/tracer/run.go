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

// Run reads the probes' ring buffer until ctx is done, writing records,
// with a stats record every statsEvery and a last one after draining.
// One goroutine does everything, so the Tracer needs no locks.
func Run(ctx context.Context, p *probe.Probe, t *Tracer, statsEvery time.Duration) error {
	var rec ringbuf.Record
	nextStats := time.Now().Add(statsEvery)
	// The deadline matters only when the reader waits, after it drained the
	// buffer: it is set then, not for every record.
	armed := false
	var maps mapUse
	// writeStats writes a stats record; final: the last, its maps counted now.
	writeStats := func(final bool) {
		s := t.Stats(p.Lost())
		s.Maps = maps.get(p, final)
		t.Out.Record(&s, "", "")
	}
	for {
		stopping := ctx.Err() != nil
		if stopping {
			// Drain what is already in the buffer, then stop.
			p.Reader.SetDeadline(time.Now())
		} else if !armed {
			p.Reader.SetDeadline(time.Now().Add(100 * time.Millisecond))
			armed = true
		}
		err := p.Reader.ReadInto(&rec)
		switch {
		case err == nil:
			t.Handle(rec.RawSample)
			if rec.Remaining != 0 {
				continue
			}
			// a batch read: under steady load the reader may never wait
			// long enough for its deadline, so stats are due here too
			t.Out.Flush()
			armed = false
		case errors.Is(err, os.ErrDeadlineExceeded):
			armed = false
			t.Out.Flush()
			if stopping {
				t.FlushCalls()
				writeStats(true)
				return t.Out.Flush()
			}
		case errors.Is(err, ringbuf.ErrClosed):
			t.FlushCalls()
			return t.Out.Flush()
		default:
			return err
		}
		if now := time.Now(); now.After(nextStats) {
			writeStats(false)
			t.Out.Flush()
			nextStats = now.Add(statsEvery)
		}
	}
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
