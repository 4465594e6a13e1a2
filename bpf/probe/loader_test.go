package probe

import (
	"errors"
	"os"
	"testing"
)

// The programs must pass this kernel's verifier with every feature
// switched on (headers, Swiss maps and hmaps); without privileges, Load
// must say so with its code.
func TestLoadVerifies(t *testing.T) {
	for _, swiss := range []bool{false, true} {
		a := Attachment{PID: os.Getpid(), Exe: "/proc/self/exe", Headers: []string{"traceparent", "x-request-id"}}
		a.Offsets.SwissMaps = swiss
		p, err := Load(a)
		if os.Geteuid() != 0 {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "NO_PRIVILEGES" {
				t.Fatalf("unprivileged Load: want NO_PRIVILEGES, got %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Load (swiss=%v): %v", swiss, err)
		}
		if len(p.Probes) != 3 {
			t.Errorf("want the 3 tracepoints attached, got %v", p.Probes)
		}
		p.Close()
	}
}

func TestCanonicalHeaders(t *testing.T) {
	got := CanonicalHeaders([]string{"traceparent", "X-REQUEST-ID", "Traceparent", " "})
	want := []string{"Traceparent", "X-Request-Id"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
}
