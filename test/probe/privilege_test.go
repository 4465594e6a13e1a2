package probe_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the unprivileged account of the privilege tests.
const nobody = 65534

var asNobody = &syscall.Credential{Uid: nobody, Gid: nobody}

// grantedWorld is a directory an unprivileged user can reach, holding a
// copy of the helper granted the capabilities of "Allow tracing without a
// password" (the helper's own SetcapCaps) and a copy of the sample.
type grantedWorld struct {
	dir, helper, sample string
}

func newGrantedWorld(t *testing.T, e *env) *grantedWorld {
	t.Helper()
	if _, err := exec.LookPath("setcap"); err != nil {
		t.Fatal("setcap is needed (apt-get install libcap2-bin)")
	}
	dir, err := os.MkdirTemp("/var/tmp", "ol-priv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	const stNosuid = 0x2 // statfs(2) ST_NOSUID
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil || fs.Flags&stNosuid != 0 {
		t.Fatalf("%s is on a nosuid mount (%v): file capabilities would be ignored there", dir, err)
	}
	w := &grantedWorld{dir: dir, helper: filepath.Join(dir, "helper"), sample: filepath.Join(dir, "sample")}
	copyFile(t, helperBin, w.helper, 0o755)
	copyFile(t, sampleFor(t, e.toolchain, e.ldflags), w.sample, 0o755)
	src, err := os.ReadFile(filepath.Join(repoRoot, "bpf/cmd/outbound-lens-helper/caps.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const SetcapCaps = "([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal("SetcapCaps not found in caps.go")
	}
	if out, err := exec.Command("setcap", string(m[1]), w.helper).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v %s", err, out)
	}
	return w
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(to, mode)
}

// serviceArgs are the sample's flags on a fresh address, and that address.
func (e *env) serviceArgs(t *testing.T) ([]string, string) {
	addr := freeAddr(t)
	return []string{"-addr", addr, "-downstream", "http://" + e.down, "-raw", e.raw}, addr
}

// asUser runs the helper copy as the unprivileged account.
func (w *grantedWorld) asUser(cmd *exec.Cmd) {
	cmd.Path = w.helper
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asNobody}
}

// procCreds is a process's Uid, Gid and capability lines of /proc/PID/status.
func procCreds(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "Uid" || k == "Gid" || strings.HasPrefix(k, "Cap")) {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// wantCallerCreds: the process runs as uid/gid everywhere (real, effective,
// saved, filesystem) with no capabilities at all.
func wantCallerCreds(t *testing.T, pid, id int) {
	t.Helper()
	c := procCreds(t, pid)
	ids := strings.TrimSpace(strings.Repeat(fmt.Sprintf("%d ", id), 4))
	if c["Uid"] != ids || c["Gid"] != ids {
		t.Errorf("pid %d runs with Uid %q Gid %q, want %q", pid, c["Uid"], c["Gid"], ids)
	}
	for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if c[set] != "0000000000000000" {
			t.Errorf("pid %d has %s %s, want none", pid, set, c[set])
		}
	}
}

// TestPrivilegeBoundary: an unprivileged account with the capability-granted
// helper traces its own service, and is refused root's with NOT_PERMITTED
// and nothing of root's service printed; ps shows it only its own.
func TestPrivilegeBoundary(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	w := newGrantedWorld(t, e)

	rootArgs, rootAddr := e.serviceArgs(t)
	rootSvc := start(t, w.sample, rootArgs...)
	userArgs, userAddr := e.serviceArgs(t)
	userCmd := exec.Command(w.sample, userArgs...)
	userCmd.SysProcAttr = &syscall.SysProcAttr{Credential: asNobody}
	userSvc := startCmd(t, userCmd)

	const secret = "Bearer root-secret-7f3a"
	t.Run("root's service is refused", func(t *testing.T) {
		stopLoad := make(chan struct{})
		loadDone := make(chan struct{})
		go func() { // root's service is busy with secrets all along
			defer close(loadDone)
			root := &env{t: t, service: rootAddr}
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				root.get("/echo", fmt.Sprint("root", i), map[string]string{"Authorization": secret})
				time.Sleep(20 * time.Millisecond)
			}
		}()
		h := startHelperWith(t, w.asUser, "--pid", fmt.Sprint(rootSvc.cmd.Process.Pid), "--header", "authorization")
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			h.cmd.Process.Kill()
			<-h.done
			t.Errorf("the helper did not refuse: still running after 15 s")
		}
		close(stopLoad)
		<-loadDone
		rs := h.snapshot()
		for _, r := range rs {
			if strings.Contains(fmt.Sprint(r.Headers), "root-secret") {
				t.Errorf("root's Authorization header printed: %+v", r)
			}
		}
		if h.exit != 4 {
			t.Errorf("exit code %d, want 4", h.exit)
		}
		if len(rs) != 1 || rs[0].Type != "error" || rs[0].Code != "NOT_PERMITTED" {
			t.Fatalf("want exactly one NOT_PERMITTED error record, got %+v\nstderr: %s", rs, h.stderr.String())
		}
		for _, want := range []string{"root (uid 0)", "nobody", "sudo", "run the service as"} {
			if !strings.Contains(rs[0].Message, want) {
				t.Errorf("the message does not say %q: %s", want, rs[0].Message)
			}
		}
		if strings.Contains(h.stderr.String(), "root-secret") {
			t.Errorf("root's header on the helper's stderr: %s", h.stderr.String())
		}
	})

	t.Run("its own service is traced", func(t *testing.T) {
		h := startHelperWith(t, w.asUser, "--pid", fmt.Sprint(userSvc.cmd.Process.Pid), "--header", "authorization")
		if r := h.waitReady(); r.PID != userSvc.cmd.Process.Pid {
			t.Fatalf("ready names pid %d", r.PID)
		}
		user := &env{t: t, service: userAddr}
		user.get("/echo", "u1", map[string]string{"Authorization": "Bearer mine"})
		waitFor(t, "the request and its outbound connection", 10*time.Second, func() bool {
			return h.count("request") >= 1 && h.count("outbound") >= 1
		})
		rs := h.stop()
		if req := byType(rs, "request")[0]; req.Headers["authorization"] != "Bearer mine" {
			t.Errorf("request %+v", req)
		}
	})

	t.Run("ps lists only its own processes", func(t *testing.T) {
		list := func(cred *syscall.Credential) []int {
			cmd := exec.Command(w.helper, "ps")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ps: %v", err)
			}
			var ps []struct {
				PID int `json:"pid"`
			}
			if err := json.Unmarshal(out, &ps); err != nil {
				t.Fatalf("ps: %v: %s", err, out)
			}
			var pids []int
			for _, p := range ps {
				pids = append(pids, p.PID)
			}
			return pids
		}
		rootPid, userPid := rootSvc.cmd.Process.Pid, userSvc.cmd.Process.Pid
		if all := list(nil); !slices.Contains(all, rootPid) || !slices.Contains(all, userPid) {
			t.Fatalf("root's ps lacks pid %d or %d: %v", rootPid, userPid, all)
		}
		if mine := list(asNobody); slices.Contains(mine, rootPid) || !slices.Contains(mine, userPid) {
			t.Errorf("ps as nobody lists %v: want %d (its own) and not %d (root's)", mine, userPid, rootPid)
		}
	})
}

// TestLaunchedServiceCredentials: a service the helper launches runs with
// the caller's credentials and no capabilities: for an unprivileged caller
// of the capability-granted helper (even when the binary is set-uid root),
// and for the user who ran sudo.
func TestLaunchedServiceCredentials(t *testing.T) {
	e := newEnv(t, toolchains[len(toolchains)-1])
	w := newGrantedWorld(t, e)
	setuidSample := filepath.Join(w.dir, "sample-setuid")
	copyFile(t, w.sample, setuidSample, 0o755)
	if err := os.Chmod(setuidSample, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(setuidSample); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("%s is not set-uid: %v", setuidSample, err)
	}
	cases := []struct {
		name  string
		setup func(*exec.Cmd)
		bin   string
	}{
		{"capability-granted helper run by nobody", w.asUser, w.sample},
		{"set-uid root binary launched by nobody", w.asUser, setuidSample},
		{"root helper under sudo", func(cmd *exec.Cmd) {
			cmd.Env = append(os.Environ(), fmt.Sprintf("SUDO_UID=%d", nobody), fmt.Sprintf("SUDO_GID=%d", nobody))
		}, w.sample},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args, addr := e.serviceArgs(t)
			h := startHelperWith(t, c.setup, append([]string{"--", c.bin}, args...)...)
			pid := h.waitReady().PID
			waitFor(t, "the service to listen", 20*time.Second, func() bool { return strings.Contains(h.stderr.String(), "listening on") })
			wantCallerCreds(t, pid, nobody)
			(&env{t: t, service: addr}).get("/echo", "l1", nil)
			waitFor(t, "the request", 10*time.Second, func() bool { return h.count("request") >= 1 })
			h.stop()
		})
	}
}
