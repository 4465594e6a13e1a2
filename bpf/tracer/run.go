package tracer

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"outboundlens/bpf/probe"
)

// Run reads the probes' ring buffer until ctx is done, writing records,
// with a stats record every statsEvery and a last one after draining.
// One goroutine does everything, so the Tracer needs no locks.
func Run(ctx context.Context, p *probe.Probe, t *Tracer, statsEvery time.Duration) error {
	var rec ringbuf.Record
	nextStats := time.Now().Add(statsEvery)
	for {
		stopping := ctx.Err() != nil
		if stopping {
			// Drain what is already in the buffer, then stop.
			p.Reader.SetDeadline(time.Now())
		} else {
			p.Reader.SetDeadline(time.Now().Add(100 * time.Millisecond))
		}
		err := p.Reader.ReadInto(&rec)
		switch {
		case err == nil:
			t.Handle(rec.RawSample)
			if rec.Remaining == 0 {
				t.Out.Flush()
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Out.Flush()
			if stopping {
				t.FlushCalls()
				s := stats(t, p)
				t.Out.Record(&s, "", "")
				return t.Out.Flush()
			}
		case errors.Is(err, ringbuf.ErrClosed):
			t.FlushCalls()
			return t.Out.Flush()
		default:
			return err
		}
		if now := time.Now(); now.After(nextStats) {
			s := stats(t, p)
			t.Out.Record(&s, "", "")
			t.Out.Flush()
			nextStats = now.Add(statsEvery)
		}
	}
}

// stats is a stats record: the tracer's counters and the probes' maps.
func stats(t *Tracer, p *probe.Probe) Stats {
	s := t.Stats(p.Lost())
	s.Maps = p.MapUse()
	return s
}
