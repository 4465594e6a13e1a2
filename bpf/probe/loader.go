package probe

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/textproto"
	"os"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// MaxHeaders is how many request headers one trace can capture.
const MaxHeaders = 8

// Offsets are the struct field offsets the programs read, per binary.
type Offsets struct {
	GGoid, GParentGoid                       uint64
	RequestMethod, RequestURL, RequestHeader uint64
	URLPath                                  uint64
	PersistConnConn, PersistConnReused       uint64
	ConnFD                                   uint64
	NetFDFamily, NetFDSotype, NetFDLaddr     uint64
	NetFDRaddr                               uint64
	TCPAddrIP, TCPAddrPort                   uint64
	TLSConnConn                              uint64
	GinContextFullPath, GinContextHandlers   uint64
	SwissMaps                                bool
}

// Site is one place to attach a uprobe: a file offset in the executable.
type Site struct {
	Symbol string
	Offset uint64
}

// Attachment says which probe goes where. Optional sites may be empty
// (for example no Gin in the binary): that probe is then not attached.
type Attachment struct {
	PID     int
	Exe     string // path the uprobes attach to, e.g. /proc/PID/exe
	Offsets Offsets
	Headers []string // canonicalized here

	ServeHTTP, ServeHTTPReturns []Site
	Newproc1Returns             []Site
	GinHandle, GinHandleReturns []Site
	RoundTrip                   []Site
}

// Probe is the loaded and attached set of programs.
type Probe struct {
	objs    probeObjects
	links   []link.Link
	Reader  *ringbuf.Reader
	Headers []string // canonical header names, index = slot in events
	Probes  []string // what got attached, for the ready record
}

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// CanonicalHeaders returns Go's canonical form of the header names, deduplicated.
func CanonicalHeaders(names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		c := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(n))
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out
}

// Load checks the kernel, loads the programs with the binary's offsets and
// attaches them. Close releases everything.
func Load(a Attachment) (_ *Probe, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errorf("NO_BTF", "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): Outbound Lens needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y")
	}
	if err := ensureTracefs(); err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. The feature
	// test behind RemoveMemlock runs when the program starts, before a helper
	// with file capabilities has raised them, so it can fail where the limit
	// plays no part: go on. Where it does, loading fails below with
	// NO_PRIVILEGES, and the message names CAP_SYS_RESOURCE.
	memlockErr := rlimit.RemoveMemlock()

	headers := CanonicalHeaders(a.Headers)
	if len(headers) > MaxHeaders {
		return nil, errorf("USAGE", "at most %d headers can be captured, got %d", MaxHeaders, len(headers))
	}

	spec, err := loadProbe()
	if err != nil {
		return nil, errorf("LOAD_FAILED", "reading the embedded BPF object: %v", err)
	}
	cfg := configFor(a, headers)
	if err := spec.Variables["CFG"].Set(cfg); err != nil {
		return nil, errorf("LOAD_FAILED", "configuring the BPF programs: %v", err)
	}

	p := &Probe{Headers: headers}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, errorf("LOAD_FAILED", "the kernel's verifier rejected the probes: %+v", ve)
		}
		if errors.Is(err, syscall.EPERM) && memlockErr != nil {
			return nil, errorf("NO_PRIVILEGES", "loading the BPF programs: %v; the locked-memory limit could not be raised (%v): this kernel may charge BPF memory to it, so run as root, or grant the helper CAP_SYS_RESOURCE too", err, memlockErr)
		}
		if errors.Is(err, syscall.EPERM) {
			return nil, privilegeError(err)
		}
		return nil, errorf("LOAD_FAILED", "loading the BPF programs: %v", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	ex, err := link.OpenExecutable(a.Exe)
	if err != nil {
		return nil, errorf("TARGET", "opening %s: %v", a.Exe, err)
	}
	uprobes := []struct {
		sites []Site
		prog  *ebpf.Program
		label string
	}{
		{a.ServeHTTP, p.objs.ServeHttp, ""},
		{a.ServeHTTPReturns, p.objs.ServeHttpReturn, ":ret"},
		{a.Newproc1Returns, p.objs.Newproc1Return, ":ret"},
		{a.GinHandle, p.objs.GinHandle, ""},
		{a.GinHandleReturns, p.objs.GinHandleReturn, ":ret"},
		{a.RoundTrip, p.objs.RoundTrip, ""},
	}
	for _, u := range uprobes {
		for i, s := range u.sites {
			l, err := ex.Uprobe(s.Symbol, u.prog, &link.UprobeOptions{Address: s.Offset, PID: a.PID})
			if err != nil {
				if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
					return nil, privilegeError(err)
				}
				return nil, errorf("ATTACH_FAILED", "attaching a uprobe to %s at file offset %#x: %v", s.Symbol, s.Offset, err)
			}
			p.links = append(p.links, l)
			if i == 0 {
				p.Probes = append(p.Probes, s.Symbol+u.label)
			}
		}
	}
	tracepoints := []struct {
		group, name string
		prog        *ebpf.Program
	}{
		{"syscalls", "sys_enter_connect", p.objs.SysEnterConnect},
		{"syscalls", "sys_exit_connect", p.objs.SysExitConnect},
		{"sock", "inet_sock_set_state", p.objs.InetSockSetState},
	}
	for _, t := range tracepoints {
		l, err := link.Tracepoint(t.group, t.name, t.prog, nil)
		if err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				return nil, privilegeError(err)
			}
			return nil, errorf("ATTACH_FAILED", "attaching tracepoint %s:%s: %v", t.group, t.name, err)
		}
		p.links = append(p.links, l)
		p.Probes = append(p.Probes, t.group+":"+t.name)
	}

	p.Reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return nil, errorf("LOAD_FAILED", "opening the ring buffer: %v", err)
	}
	return p, nil
}

func privilegeError(err error) error {
	return errorf("NO_PRIVILEGES", "not allowed to load BPF programs (%v): run as root (sudo), or grant the helper capabilities once: sudo setcap cap_sys_admin,cap_bpf,cap_perfmon,cap_sys_resource,cap_sys_ptrace,cap_dac_read_search+p <helper>", err)
}

func configFor(a Attachment, headers []string) probeConfig {
	o := a.Offsets
	cfg := probeConfig{
		Tgid:          uint32(a.PID),
		G_goid:        o.GGoid,
		G_parentGoid:  o.GParentGoid,
		RequestMethod: o.RequestMethod,
		RequestUrl:    o.RequestURL,
		RequestHeader: o.RequestHeader,
		UrlPath:       o.URLPath,
		PconnConn:     o.PersistConnConn,
		PconnReused:   o.PersistConnReused,
		ConnFd:        o.ConnFD,
		NetfdFamily:   o.NetFDFamily,
		NetfdSotype:   o.NetFDSotype,
		NetfdLaddr:    o.NetFDLaddr,
		NetfdRaddr:    o.NetFDRaddr,
		TcpaddrIp:     o.TCPAddrIP,
		TcpaddrPort:   o.TCPAddrPort,
		TlsconnConn:   o.TLSConnConn,
		GinFullpath:   o.GinContextFullPath,
		GinHandlers:   o.GinContextHandlers,
		N_headers:     uint32(len(headers)),
	}
	if o.SwissMaps {
		cfg.SwissMaps = 1
	}
	for i, h := range headers {
		f := fnv.New64a()
		f.Write([]byte(h))
		cfg.HeaderLen[i] = uint32(len(h))
		cfg.HeaderHash[i] = f.Sum64()
	}
	return cfg
}

// Lost sums the events the programs dropped because the ring buffer was full.
func (p *Probe) Lost() uint64 {
	var per []uint64
	if err := p.objs.Lost.Lookup(uint32(0), &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// Close detaches every probe and frees the maps. Safe to call twice.
func (p *Probe) Close() {
	if p.Reader != nil {
		p.Reader.Close()
		p.Reader = nil
	}
	for _, l := range p.links {
		l.Close()
	}
	p.links = nil
	p.objs.Close()
}
