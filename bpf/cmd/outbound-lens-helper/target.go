package main

import (
	"bufio"
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
)

type targetError struct {
	code string
	err  error
}

func (e *targetError) Error() string { return e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// target is the traced process: one that was running, or one we launched
// stopped at its first instruction so that no early request is missed.
type target struct {
	pid        int
	exe        string // the binary's path, for people
	attachPath string // the path uprobes attach to
	bin        *inspect.Binary
	offsets    inspect.Offsets
	bias       uint64
	launched   bool

	resumeCh chan struct{}
	exited   chan struct{}
	once     sync.Once
	status   *int
}

func openBinary(path string) (*inspect.Binary, inspect.Offsets, error) {
	b, err := inspect.Open(path)
	if err != nil {
		code := "UNSUPPORTED_BINARY"
		switch {
		case errors.Is(err, inspect.ErrNotELF), errors.Is(err, inspect.ErrNotGo):
			code = "NOT_GO"
		case errors.Is(err, inspect.ErrUnsupportedGo):
			code = "UNSUPPORTED_GO"
		case errors.Is(err, inspect.ErrUnsupportedArch):
			code = "UNSUPPORTED_ARCH"
		case errors.Is(err, os.ErrPermission):
			code = "NO_PRIVILEGES"
		}
		return nil, inspect.Offsets{}, &targetError{code, err}
	}
	if _, err := b.Func("net/http.serverHandler.ServeHTTP"); err != nil {
		b.Close()
		if errors.Is(err, inspect.ErrUnsupportedBinary) {
			return nil, inspect.Offsets{}, &targetError{"UNSUPPORTED_BINARY", err}
		}
		return nil, inspect.Offsets{}, &targetError{"NOT_HTTP_SERVER", fmt.Errorf("%s does not serve HTTP with net/http: Outbound Lens traces Go HTTP services", path)}
	}
	off, err := b.Offsets()
	if err != nil {
		b.Close()
		return nil, inspect.Offsets{}, &targetError{"UNSUPPORTED_BINARY", err}
	}
	return b, off, nil
}

func attachTarget(pid int) (*target, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &targetError{"NO_PROCESS", fmt.Errorf("no process with pid %d (has it exited?)", pid)}
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, &targetError{"NO_PRIVILEGES", fmt.Errorf("not allowed to inspect pid %d: run as root or with CAP_SYS_PTRACE", pid)}
		}
		return nil, &targetError{"NO_PROCESS", fmt.Errorf("pid %d: %v", pid, err)}
	}
	attachPath := fmt.Sprintf("/proc/%d/exe", pid)
	b, off, err := openBinary(attachPath)
	if err != nil {
		return nil, fmt.Errorf("pid %d (%s): %w", pid, exe, err)
	}
	t := &target{pid: pid, exe: exe, attachPath: attachPath, bin: b, offsets: off, exited: make(chan struct{})}
	if b.PIE {
		if t.bias, err = loadBias(pid); err != nil {
			b.Close()
			return nil, &targetError{"TARGET", err}
		}
	}
	go t.watchExit()
	return t, nil
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
		return nil, &targetError{"NO_PROCESS", fmt.Errorf("cannot run %s: %v", argv[0], err)}
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	b, off, err := openBinary(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &target{exe: path, bin: b, offsets: off, launched: true,
		resumeCh: make(chan struct{}), exited: make(chan struct{})}
	started := make(chan error, 1)
	// ptrace requests must come from the thread that started the child.
	go func() {
		runtime.LockOSThread()
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
		b.Close()
		return nil, &targetError{"NO_PROCESS", err}
	}
	t.attachPath = fmt.Sprintf("/proc/%d/exe", t.pid)
	if b.PIE {
		if t.bias, err = loadBias(t.pid); err != nil {
			t.abort()
			b.Close()
			return nil, &targetError{"TARGET", err}
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
func (t *target) close()           { t.bin.Close() }

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
		return start, nil
	}
	return 0, fmt.Errorf("cannot find where %s is mapped in pid %d", exe, pid)
}
