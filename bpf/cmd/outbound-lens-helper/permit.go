package main

// The privilege boundary. A helper granted capabilities with setcap runs
// for whoever starts it, so when its real uid is not root it traces only
// what that user could ptrace without the helper: the kernel's
// __ptrace_may_access with PTRACE_MODE_ATTACH_REALCREDS, judged with the
// caller's credentials, never with the helper's capabilities. Root (sudo,
// pkexec, a root shell) may trace anything, as root may ptrace anything.

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
)

// procStatus is what /proc/PID/status says of a process's credentials.
type procStatus struct {
	uids, gids [3]int // real, effective, saved
	// permitted, effective and ambient capabilities
	capPrm, capEff, capAmb uint64
}

func readProcStatus(pid int) (procStatus, error) {
	var st procStatus
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		switch name {
		case "Uid", "Gid":
			ids := &st.uids
			if name == "Gid" {
				ids = &st.gids
			}
			if len(f) < 3 {
				return st, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			for i := range ids {
				if ids[i], err = strconv.Atoi(f[i]); err != nil {
					return st, fmt.Errorf("/proc/%d/status: %q", pid, line)
				}
			}
			seen++
		case "CapPrm", "CapEff", "CapAmb":
			set := map[string]*uint64{"CapPrm": &st.capPrm, "CapEff": &st.capEff, "CapAmb": &st.capAmb}[name]
			if len(f) != 1 {
				return st, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			if *set, err = strconv.ParseUint(f[0], 16, 64); err != nil {
				return st, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			seen++
		}
	}
	if seen != 5 {
		return st, fmt.Errorf("/proc/%d/status lacks Uid, Gid or capability lines", pid)
	}
	return st, nil
}

// yamaScopePath is Yama's kernel.yama.ptrace_scope; without Yama, 0.
var yamaScopePath = "/proc/sys/kernel/yama/ptrace_scope"

func ptraceScope() int {
	b, err := os.ReadFile(yamaScopePath)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 3 // unreadable: assume the strictest
	}
	return n
}

// deniedReason is why a caller with real uid and gid (and no capabilities)
// may not ptrace a process, or "": the checks of __ptrace_may_access that
// /proc shows. dumpOwner is the owner of /proc/PID, which the kernel sets
// to root while the process is not dumpable. Yama's scope 1 (descendants
// and PR_SET_PTRACER only) is not visible in /proc: kernelMayAttach asks
// the kernel itself.
func deniedReason(st procStatus, uid, gid, dumpOwner, scope int) string {
	switch {
	case scope >= 3:
		return "Yama's kernel.yama.ptrace_scope is 3: no process may be traced this way"
	case scope == 2:
		return "Yama's kernel.yama.ptrace_scope is 2: only root may trace"
	case st.uids != [3]int{uid, uid, uid}:
		return fmt.Sprintf("its real, effective and saved uids are %d, %d, %d, and yours is %d", st.uids[0], st.uids[1], st.uids[2], uid)
	case st.gids != [3]int{gid, gid, gid}:
		return fmt.Sprintf("its real, effective and saved gids are %d, %d, %d, and yours is %d", st.gids[0], st.gids[1], st.gids[2], gid)
	case st.capPrm|st.capEff|st.capAmb != 0:
		return fmt.Sprintf("it holds capabilities (CapPrm %016x) that you do not", st.capPrm)
	case dumpOwner != uid:
		return "it is not dumpable (it changed its credentials, or runs a set-id or unreadable binary)"
	}
	return ""
}

// noSuchFD is a descriptor number no process can hold (above fs.nr_open).
const noSuchFD = 1<<31 - 1

// kernelMayAttach asks the kernel whether the caller could ptrace the
// process: pidfd_getfd checks PTRACE_MODE_ATTACH_REALCREDS (uids, gids,
// dumpable, capabilities, Yama including PR_SET_PTRACER, other security
// modules) before it looks up the descriptor, so it fails with EPERM when
// not allowed and with EBADF for a descriptor that cannot exist when
// allowed. It runs on a thread that first gives up every capability, so
// the answer is the caller's own; Go ends that thread with the goroutine.
func kernelMayAttach(pidfd int) error {
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is not reused
		if err := dropThreadCaps(); err != nil {
			res <- err
			return
		}
		fd, err := unix.PidfdGetfd(pidfd, noSuchFD, 0)
		if err == nil {
			unix.Close(fd)
		}
		res <- err
	}()
	switch err := <-res; {
	case errors.Is(err, unix.EBADF):
		return nil
	case err == nil:
		return errors.New("pidfd_getfd returned a descriptor that cannot exist")
	default:
		return err
	}
}

// dropThreadCaps empties every capability set of the calling thread, for
// good: only a thread locked to its goroutine and never unlocked may call
// it, so that Go ends the thread instead of reusing it.
func dropThreadCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// mayTrace returns nil when the helper's caller may trace pid (pidfd pins
// the same process), else a NOT_PERMITTED error naming the process's owner
// and what to do instead. A real uid of 0 may trace anything.
func mayTrace(pid, pidfd int, exe string) error {
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		return nil
	}
	st, err := readProcStatus(pid)
	if err != nil {
		return &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d: %v (has it exited?)", pid, err)}
	}
	dumpOwner := -1
	if fi, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		dumpOwner = int(fi.Sys().(*syscall.Stat_t).Uid)
	}
	scope := ptraceScope()
	why := deniedReason(st, uid, gid, dumpOwner, scope)
	if why == "" {
		if err := kernelMayAttach(pidfd); errors.Is(err, unix.ESRCH) {
			return &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d exited", pid)}
		} else if err != nil {
			why = fmt.Sprintf("the kernel does not let you ptrace it (%v)", err)
			if scope == 1 {
				why += "; Yama's kernel.yama.ptrace_scope is 1, so only processes the helper starts (Build and launch) or that allow it with prctl(PR_SET_PTRACER) may be traced"
			}
		}
	}
	// access(2) judges with the real uid and, for a non-root one, without
	// capabilities: the binary the probes go into must be one the caller
	// could read.
	if why == "" && unix.Access(fmt.Sprintf("/proc/%d/exe", pid), unix.R_OK) != nil {
		why = "you may not read its binary"
	}
	if why == "" {
		return nil
	}
	me := userName(uid)
	owner := userName(st.uids[1])
	return &probe.Error{Code: records.NotPermitted, Err: fmt.Errorf(
		"pid %d (%s) belongs to %s, and %s may not trace it: %s. This helper was granted capabilities with setcap, so it traces only processes its user could ptrace. "+
			"Trace it as root instead (sudo %s trace --pid %d, or outboundLens.privilegeMethod \"terminal\" in the editor), or run the service as %s",
		pid, exe, owner, me, why, selfPath(), pid, me)}
}
