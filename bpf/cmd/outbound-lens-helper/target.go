package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"outboundlens/bpf/inspect"
	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
)

// target is the traced process: one that was running, or one we launched
// stopped at its first instruction so that no early request is missed.
type target struct {
	pid        int
	exe        string // the binary's path, for people
	attachPath string // the path uprobes attach to: exeFile's, /proc/self/fd/N
	exeFile    *os.File
	exeID      fileID // exeFile's device and inode
	pidfd      int    // pins the process that was checked (-1: none yet)
	bin        *inspect.Binary
	offsets    inspect.Offsets
	bias       uint64
	launched   bool

	resumeCh chan struct{}
	exited   chan struct{}
	once     sync.Once
	status   *int
}

// openBinary inspects the binary at path; name is its path for people.
func openBinary(path, name string) (*inspect.Binary, inspect.Offsets, error) {
	b, err := inspect.Open(path)
	if err != nil {
		code := records.UnsupportedBinary
		switch {
		case errors.Is(err, inspect.ErrNotELF), errors.Is(err, inspect.ErrNotGo):
			code = records.NotGo
		case errors.Is(err, inspect.ErrUnsupportedGo):
			code = records.UnsupportedGo
		case errors.Is(err, inspect.ErrUnsupportedArch):
			code = records.UnsupportedArch
		case errors.Is(err, os.ErrPermission):
			code = records.NoPrivileges
		}
		return nil, inspect.Offsets{}, &probe.Error{Code: code, Err: err}
	}
	off, offErr := b.Offsets()
	if _, err := b.Func("net/http.serverHandler.ServeHTTP"); err != nil && (offErr != nil || !b.HasGRPCServer(off)) {
		grpcOnly := b.LinksGRPCServer()
		b.Close()
		if errors.Is(err, inspect.ErrUnsupportedBinary) {
			return nil, inspect.Offsets{}, &probe.Error{Code: records.UnsupportedBinary, Err: err}
		}
		if grpcOnly {
			return nil, inspect.Offsets{}, &probe.Error{Code: records.NotHTTPServer, Err: fmt.Errorf("%s serves gRPC with grpc-go, whose calls Outbound Lens records only from the binary's DWARF: rebuild it without -w", name)}
		}
		return nil, inspect.Offsets{}, &probe.Error{Code: records.NotHTTPServer, Err: fmt.Errorf("%s does not serve HTTP with net/http (nor gRPC with grpc-go): Outbound Lens traces Go HTTP services", name)}
	}
	if offErr != nil {
		b.Close()
		return nil, inspect.Offsets{}, &probe.Error{Code: records.UnsupportedBinary, Err: offErr}
	}
	return b, off, nil
}

func attachTarget(pid int) (*target, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("no process with pid %d (has it exited?)", pid)}
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, &probe.Error{Code: records.NoPrivileges, Err: fmt.Errorf("not allowed to inspect pid %d: run as root or with CAP_SYS_PTRACE", pid)}
		}
		return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d: %v", pid, err)}
	}
	t := &target{pid: pid, exe: exe, pidfd: -1, exited: make(chan struct{})}
	if t.pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d: %v (has it exited?)", pid, err)}
	}
	if err := mayTrace(pid, t.pidfd, exe); err != nil {
		t.close()
		return nil, err
	}
	if err := t.openExe(fmt.Sprintf("/proc/%d/exe", pid)); err != nil {
		t.close()
		return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d: %v", pid, err)}
	}
	if t.bin, t.offsets, err = openBinary(t.attachPath, exe); err != nil {
		t.close()
		return nil, fmt.Errorf("pid %d (%s): %w", pid, exe, err)
	}
	if t.bin.PIE {
		if t.bias, err = loadBias(pid); err != nil {
			t.close()
			return nil, &probe.Error{Code: records.Target, Err: err}
		}
	}
	go t.watchExit()
	return t, nil
}

// fileID is a file's device and inode: which file, whatever its path.
type fileID struct{ dev, ino uint64 }

func fileIDOf(fi os.FileInfo) fileID {
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{uint64(st.Dev), st.Ino}
}

// openExe pins the binary: it is inspected and the probes are attached
// through one descriptor, so both see the same file whatever happens to
// the path meanwhile.
func (t *target) openExe(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	t.exeFile, t.exeID = f, fileIDOf(fi)
	t.attachPath = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	return nil
}

// waitExec returns when the process runs another program than the one
// traced (exec): the probes sit in the old file, so nothing more would
// come. Nothing tells of an exec but /proc; a look every 250 ms is cheap.
// A process that exits is watchExit's.
func (t *target) waitExec() {
	for {
		time.Sleep(250 * time.Millisecond)
		fi, err := os.Stat(fmt.Sprintf("/proc/%d/exe", t.pid))
		if err == nil && fileIDOf(fi) != t.exeID {
			return
		}
	}
}

// recheck runs once the probes are attached and before any record is
// read: the process is still the one checked (its pidfd), still runs the
// file the probes went into, and the caller may still trace it. A pid that
// exited and was reused, or a process that exec'd a set-id program while
// the probes were being attached, ends here with nothing of it printed.
func (t *target) recheck() error {
	fi, err := os.Stat(fmt.Sprintf("/proc/%d/exe", t.pid))
	if err != nil {
		return &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("pid %d exited while the probes were attached", t.pid)}
	}
	if fileIDOf(fi) != t.exeID {
		return &probe.Error{Code: records.Target, Err: fmt.Errorf("pid %d started another program while the probes were attached: trace it again", t.pid)}
	}
	return mayTrace(t.pid, t.pidfd, t.exe)
}

// watchExit closes t.exited when a process we did not start exits.
func (t *target) watchExit() {
	fd, err := unix.PidfdOpen(t.pid, 0)
	if err == nil {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
	} else {
		for syscall.Kill(t.pid, 0) == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	close(t.exited)
}

// launchTarget starts argv stopped (ptrace), in dir when given (a relative
// binary path is then taken from dir too), with env added to ours.
func launchTarget(argv []string, dir string, env []string) (*target, error) {
	name := argv[0]
	if dir != "" && !filepath.IsAbs(name) && strings.ContainsRune(name, '/') {
		name = filepath.Join(dir, name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("cannot run %s: %v", argv[0], err)}
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	// The helper reads the binary with its capabilities: it must be one
	// the caller could read (access(2) judges with the caller's rights).
	if os.Getuid() != 0 && unix.Access(path, unix.R_OK) != nil {
		return nil, &probe.Error{Code: records.NotPermitted, Err: fmt.Errorf("%s may not read %s: Outbound Lens traces only programs its user may read; run it as root (sudo) to trace it", userName(os.Getuid()), path)}
	}
	t := &target{exe: path, launched: true, pidfd: -1,
		resumeCh: make(chan struct{}), exited: make(chan struct{})}
	if err := t.openExe(path); err != nil {
		return nil, &probe.Error{Code: records.NoProcess, Err: fmt.Errorf("cannot run %s: %v", path, err)}
	}
	if t.bin, t.offsets, err = openBinary(t.attachPath, path); err != nil {
		t.close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	started := make(chan error, 1)
	// ptrace requests must come from the thread that started the child.
	go func() {
		// Locked for good (never unlocked): see dropThreadCaps.
		runtime.LockOSThread()
		if os.Getuid() != 0 {
			// The service starts with the caller's rights alone. The child
			// inherits this thread's capabilities: with any, chdir and exec
			// could pass directories the caller may not, and a set-uid
			// binary exec'd under PTRACE_TRACEME would keep the helper's
			// permitted set (the kernel gives a traced exec "no more than
			// it had") or even become root (a tracer with CAP_SYS_PTRACE).
			if err := dropThreadCaps(); err != nil {
				started <- fmt.Errorf("before starting %s: %v", path, err)
				return
			}
		}
		cmd := exec.Command(path, argv[1:]...)
		cmd.Dir = dir
		cmd.Stdout = os.Stderr // stdout carries records
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGTERM, Setpgid: true}
		base := os.Environ()
		if cred := sudoCredential(); cred != nil {
			cmd.SysProcAttr.Credential = cred
			base = append(base, userEnv(cred.Uid)...)
		}
		cmd.Env = append(base, env...) // later entries win
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
			started <- fmt.Errorf("%s did not start (%v)", path, ws)
			return
		}
		t.pid = cmd.Process.Pid
		started <- nil
		<-t.resumeCh
		syscall.PtraceDetach(t.pid)
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			code = 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
		t.status = &code
		close(t.exited)
	}()
	if err := <-started; err != nil {
		t.close()
		return nil, &probe.Error{Code: records.NoProcess, Err: err}
	}
	// Stopped before its first instruction: what was exec'd, with which
	// credentials, is checked before it runs.
	fail := func(err error) (*target, error) {
		t.abort()
		t.close()
		return nil, err
	}
	if t.pidfd, err = unix.PidfdOpen(t.pid, 0); err != nil {
		return fail(&probe.Error{Code: records.NoProcess, Err: fmt.Errorf("%s: %v", path, err)})
	}
	if err := t.recheck(); err != nil {
		return fail(err)
	}
	if t.bin.PIE {
		if t.bias, err = loadBias(t.pid); err != nil {
			return fail(&probe.Error{Code: records.Target, Err: err})
		}
	}
	return t, nil
}

// sudoCredential runs a launched service as the user who ran sudo, not root.
func sudoCredential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid == 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// userEnv is HOME, USER and LOGNAME of uid: sudo leaves root's, and a
// service run as the user who ran sudo should see its own home.
func userEnv(uid uint32) []string {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil
	}
	return []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}
}

// resume lets a launched target run once the probes are attached.
func (t *target) resume() {
	if t.launched {
		t.once.Do(func() { close(t.resumeCh) })
	}
}

// abort kills a launched target that never ran (attaching failed).
func (t *target) abort() {
	if t.launched {
		syscall.Kill(t.pid, syscall.SIGKILL)
		t.resume()
		<-t.exited
	}
}

// terminate stops a launched target: SIGTERM, then SIGKILL after 3 s.
func (t *target) terminate() {
	syscall.Kill(t.pid, syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(3 * time.Second):
		syscall.Kill(t.pid, syscall.SIGKILL)
		<-t.exited
	}
}

func (t *target) wait()            { <-t.exited }
func (t *target) exitStatus() *int { return t.status }
func (t *target) close() {
	if t.bin != nil {
		t.bin.Close()
	}
	if t.exeFile != nil {
		t.exeFile.Close()
	}
	if t.pidfd >= 0 {
		unix.Close(t.pidfd)
	}
}

// loadBias is where a position-independent executable was mapped.
func loadBias(pid int) (uint64, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[5] != exe || fields[2] != "00000000" {
			continue
		}
		start, err := strconv.ParseUint(strings.SplitN(fields[0], "-", 2)[0], 16, 64)
		if err != nil {
			return 0, err
		}
		// The mapping of file offset 0 starts at the load address of the
		// segment that holds it, whose link-time address need not be 0 (Go
		// links PIEs at 0x400000): the bias is the difference.
		base, err := linkBase(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			return 0, err
		}
		return start - base, nil
	}
	return 0, fmt.Errorf("cannot find where %s is mapped in pid %d", exe, pid)
}

// linkBase is the link-time address of file offset 0: that of the loadable
// segment at offset 0, less nothing, or of the first one less its offset.
func linkBase(path string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			return (p.Vaddr - p.Off) &^ (p.Align - 1), nil
		}
	}
	return 0, fmt.Errorf("%s has no loadable segment", path)
}
