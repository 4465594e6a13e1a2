package probe

import (
	"os"
	"syscall"

	"outboundlens/bpf/records"
)

// ensureTracefs mounts tracefs where the tracepoint attach looks for it,
// when the system has not (minimal VMs and containers often do not).
func ensureTracefs() error {
	for _, p := range []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	if err := syscall.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return errorf(records.NoTracefs, "tracefs is not mounted and mounting it failed (%v): run 'sudo mount -t tracefs tracefs /sys/kernel/tracing'", err)
	}
	return nil
}
