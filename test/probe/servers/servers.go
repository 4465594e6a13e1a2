// Package servers starts real, throwaway PostgreSQL and Redis servers on
// 127.0.0.1 for the tests and the npm scripts, each as the unprivileged user
// nobody (when started by root) in a fresh temporary directory it removes
// when it stops, and reads what each server saw as ground truth: every SQL
// statement from PostgreSQL's log, every Redis command from a MONITOR
// connection, each with the client's TCP port.
//
// The system packages come from scripts/prereqs.mjs (Ensure runs it), the
// one list of what the project needs.
package servers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Nobody is the uid and gid the servers run as when started by root.
const Nobody = 65534

// RepoRoot is the repository whose scripts/prereqs.mjs Ensure runs: by
// default the one this package's source is in.
var RepoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}()

// Ensure makes sure the PostgreSQL server and redis-server are installed:
// when one is missing it runs `node scripts/prereqs.mjs --for npmCommand`,
// which installs the packages that npm command needs with apt as root, and
// otherwise prints the one line saying what to install and fails.
func Ensure(npmCommand string) error {
	if installed() == nil {
		return nil
	}
	script := filepath.Join(RepoRoot, "scripts", "prereqs.mjs")
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("%v; node is not on PATH to install what is missing: run node %s --for %s", installed(), script, npmCommand)
	}
	cmd := exec.Command(node, script, "--for", npmCommand)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v; node %s --for %s: %v", installed(), script, npmCommand, err)
	}
	return installed()
}

// installed says which server is missing, or nil.
func installed() error {
	var missing []string
	if _, err := PostgresBin(); err != nil {
		missing = append(missing, err.Error())
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing = append(missing, "no redis-server on PATH")
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}

// PostgresBin is the directory of the newest installed PostgreSQL server's
// binaries (Debian: /usr/lib/postgresql/<major>/bin, with initdb and postgres).
func PostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return n }
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server (initdb and postgres in /usr/lib/postgresql/*/bin)")
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// unprivileged sets cmd to run as nobody when this process is root, in its
// own process group (a terminal's Ctrl-C reaches the caller, which stops it
// in order), and to be killed with sig if the caller dies first.
func unprivileged(cmd *exec.Cmd, sig syscall.Signal) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: Nobody, Gid: Nobody, Groups: []uint32{}}
	}
}

// tempDir makes a fresh directory the servers' user owns: in the usual
// temporary directory, or in /tmp when nobody could not reach that one.
func tempDir(prefix string) (string, error) {
	base := os.TempDir()
	if os.Geteuid() == 0 && !searchable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, Nobody, Nobody); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// searchable says whether every user may pass through dir and its parents.
func searchable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// freePort is a 127.0.0.1 TCP port free at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a started server: exited is closed once it has exited.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop sends sig, and SIGKILL if the process has not exited after grace.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p.hasExited() {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("%s did not stop within %v of %v: killed", filepath.Base(p.cmd.Path), grace, sig)
}

// waitUntil polls ready every 50 ms until it returns true, the process
// exits, or timeout passes.
func (p *process) waitUntil(what string, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		if p.hasExited() {
			return fmt.Errorf("%s exited (%v) before %s", filepath.Base(p.cmd.Path), p.cmd.ProcessState, what)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not %s after %v", filepath.Base(p.cmd.Path), what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// ClientPorts is the local TCP ports of process pid's sockets connected to
// 127.0.0.1:serverPort (from /proc/<pid>/fd and /proc/<pid>/net/tcp): the
// ports a server sees that process's connections come from.
func ClientPorts(pid, serverPort int) (map[int]bool, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ports := map[int]bool{}
	s := bufio.NewScanner(f)
	s.Scan() // the header
	for s.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(s.Text())
		if len(fields) < 10 || !inodes[fields[9]] {
			continue
		}
		_, lport, ok1 := strings.Cut(fields[1], ":")
		rip, rport, ok2 := strings.Cut(fields[2], ":")
		if !ok1 || !ok2 || rip != "0100007F" { // 127.0.0.1, little-endian hex
			continue
		}
		if r, _ := strconv.ParseInt(rport, 16, 32); int(r) != serverPort {
			continue
		}
		l, _ := strconv.ParseInt(lport, 16, 32)
		ports[int(l)] = true
	}
	return ports, s.Err()
}
