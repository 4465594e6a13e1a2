package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetcapCaps is what an administrator grants the helper once, so that
// tracing needs no password. CAP_BPF and CAP_PERFMON load the programs, but
// kernels still refuse a uprobe perf event without CAP_SYS_ADMIN (seen on
// 6.18), so tracing this way is as powerful as root, as tracing is. The set
// is permitted only (+p), without the effective bit. A binary with the effective bit may not run at all where the
// bounding set lacks one of its capabilities (containers, sandboxes): the
// kernel refuses to exec it. Without it, exec always works, and the helper
// raises what it was given when it traces (raiseCaps).
const SetcapCaps = "cap_sys_admin,cap_bpf,cap_perfmon,cap_sys_resource,cap_sys_ptrace,cap_dac_read_search+p"

// capSet reads one of the capability sets of /proc/self/status ("CapPrm",
// "CapEff", …).
func capSet(name string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			var set uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &set)
			return set
		}
	}
	return 0
}

// canTrace: CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21).
func canTrace(set uint64) bool {
	has := func(c uint) bool { return set&(1<<c) != 0 }
	return has(21) || (has(38) && has(39))
}

// hasTracingCaps reports whether the helper has, or can raise, what tracing
// needs: the permitted set counts, since raiseCaps makes it effective.
func hasTracingCaps() bool { return canTrace(capSet("CapPrm")) }

// raiseCaps makes the permitted capabilities effective on every thread of
// the process (capabilities are per thread, and Go runs on several).
func raiseCaps() error {
	prm := capSet("CapPrm")
	if prm == 0 || capSet("CapEff") == prm {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective, data[1].Effective = data[0].Permitted, data[1].Permitted
	hdr.Pid = 0
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno == syscall.ENOTSUP {
		return fmt.Errorf("capset on all threads needs a helper built without cgo (CGO_ENABLED=0, as npm run build does)")
	}
	if errno != 0 {
		return fmt.Errorf("capset on all threads: %w", errno)
	}
	return nil
}
