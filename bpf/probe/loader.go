package probe

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/textproto"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"outboundlens/bpf/inspect"
	"outboundlens/bpf/records"
)

// MaxHeaders is how many request headers one trace can capture.
const MaxHeaders = 8

// The uprobe programs of probe.bpf.c, by what they observe.
const (
	ProgRequestStart    = "serve_http"
	ProgRequestEnd      = "request_end"
	ProgRequestEndH2    = "request_end_h2"
	ProgGinRoute        = "gin_route"
	ProgGinHandle       = "gin_handle"
	ProgGinHandleRet    = "gin_handle_return"
	ProgChiRoute        = "chi_route"
	ProgEchoRoute       = "echo_route"
	ProgGoroutineStart  = "goroutine_start"
	ProgNewproc1Ret     = "newproc1_return"
	ProgRoundTrip       = "round_trip"
	ProgH2RoundTrip     = "h2_round_trip"
	ProgH2iRoundTrip    = "h2i_round_trip"
	ProgCtxCall         = "ctx_call"
	ProgRoundTripEnd    = "round_trip_end"
	ProgH2RoundTripEnd  = "h2_round_trip_end"
	ProgH2iRoundTripEnd = "h2i_round_trip_end"
	ProgDial            = "dial"
	ProgGRPCCall        = "grpc_call"
	ProgGRPCStart       = "grpc_start"
	ProgGRPCEnd         = "grpc_end"
	ProgGRPCCallEnd     = "grpc_call_end"

	progSysEnter  = "sys_enter"           // raw_syscalls:sys_enter
	progSockState = "inet_sock_set_state" // sock:inet_sock_set_state
)

// MaxPayload is how many bytes of an exchange's first write a probe
// copies (probe.bpf.c's MAX_OP); PayloadWithoutStatements is how many when
// statements are not captured.
const (
	MaxPayload               = len(probeCall{}.Op)
	PayloadWithoutStatements = 32
)

// Uprobe puts one program on a set of instructions.
type Uprobe struct {
	Role    string // what it observes, for the ready record: "request-start", …
	Program string // one of the Prog* names
	Sites   []inspect.Site
}

// Attachment says which probe goes where.
type Attachment struct {
	PID     int
	Exe     string // path the uprobes attach to, e.g. /proc/PID/exe
	Offsets inspect.Offsets
	Headers []string // canonicalized here
	Uprobes []Uprobe
	// Statements: outbound uses carry enough of their first write to show
	// a statement's text (MaxPayload bytes); otherwise only its first
	// PayloadWithoutStatements bytes, enough for a verb or a command.
	Statements bool
	// ContextDeadlines are the runtime addresses of the context types'
	// Deadline methods (inspect.ContextDeadlines plus the load bias).
	ContextDeadlines []uint64
	// EchoHandlerClosure is the runtime address of echo's Echo.add.func1
	// (inspect.EchoHandlerClosure plus the load bias), 0 if none.
	EchoHandlerClosure uint64
	// GRPCMetadataKey is inspect.GRPCMetadataKeyName: how the probes know
	// a gRPC call's incoming metadata in its context (0: not read).
	GRPCMetadataKey uint32
	// GRPCStatusError is inspect.GRPCStatusErrorName: how the probes know
	// a gRPC call's error as a *status.Error (0: its code is not read).
	GRPCStatusError uint32
	// MaxEntries overrides the max_entries of maps, by name (tests: a map
	// small enough to fill).
	MaxEntries map[string]uint32
	// EmptyPrograms: every program returns at once (benchmarks: the cost
	// of the probe hits alone).
	EmptyPrograms bool
}

// Probe is the loaded and attached set of programs.
type Probe struct {
	objs    probeMaps
	progs   map[string]*ebpf.Program // the loaded programs, by their C names (the Prog* names and the tracepoints')
	links   []link.Link
	Reader  *ringbuf.Reader
	Headers []string // canonical header names, index = slot in events
	Probes  []string // what got attached, for the ready record

	attached []string // the uprobe programs attached
	tps      []tracepointProg

	lru []lruMap // the LRU hash maps, for MapUse
}

func errorf(code records.Code, format string, args ...any) error {
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

// Prepare starts reading the kernel's BTF (the CO-RE relocations need it),
// parsing the embedded BPF object and creating the maps in the background,
// for Load to find done: call it before the slower work that precedes Load
// (inspecting the binary), with the privileges Load will have.
func Prepare() {
	go btf.LoadKernelSpec()
	done := make(chan struct{})
	premade.done = done
	go func() {
		defer close(done)
		spec, err := loadProbe()
		if err != nil {
			return // Load parses it again and says why
		}
		premade.prepared = prepared{spec: spec, maps: createMaps(spec)}
	}()
}

// prepared is what Prepare made for Load.
type prepared struct {
	spec *ebpf.CollectionSpec // the parsed object, never changed: each load configures a copy
	maps map[string]*ebpf.Map
}

// freshSpec is a copy of the parsed object to configure (a fraction of a
// parse), or a new parse where there is none.
func (p prepared) freshSpec() (*ebpf.CollectionSpec, error) {
	if p.spec != nil {
		return p.spec.Copy(), nil
	}
	return loadProbe()
}

// premade holds what Prepare makes, until Load takes it.
var premade struct {
	done chan struct{}
	prepared
}

// createMaps creates the maps no Attachment configures: all but the data
// sections (the configuration). Nil where one fails: Load then creates
// them and says why.
func createMaps(spec *ebpf.CollectionSpec) map[string]*ebpf.Map {
	rlimit.RemoveMemlock()
	maps := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue
		}
		m, err := ebpf.NewMap(ms)
		if err != nil {
			closeMaps(maps)
			return nil
		}
		maps[name] = m
	}
	return maps
}

// takePremade waits for what Prepare makes, if it was called, and hands
// it over once; empty if there is nothing.
func takePremade() prepared {
	if premade.done == nil {
		return prepared{}
	}
	<-premade.done
	p := premade.prepared
	premade.done, premade.prepared = nil, prepared{}
	return p
}

func closeMaps(maps map[string]*ebpf.Map) {
	for _, m := range maps {
		m.Close()
	}
}

// Load checks the kernel, loads the programs with the binary's offsets and
// attaches them. Close releases everything.
func Load(a Attachment) (_ *Probe, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errorf(records.NoBTF, "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): Outbound Lens needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y")
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
		return nil, errorf(records.Usage, "at most %d headers can be captured, got %d", MaxHeaders, len(headers))
	}

	// The maps Prepare made, but not those the attachment sizes. The
	// loaded programs hold the maps they use.
	pre := takePremade()
	defer closeMaps(pre.maps)
	for name := range a.MaxEntries {
		if m := pre.maps[name]; m != nil {
			m.Close()
			delete(pre.maps, name)
		}
	}

	// One uprobe_multi link per program where the kernel has them (6.6+):
	// removing a link waits for the kernel, and the waits of separate
	// uprobes add up (exit 0.3-0.5 s, not 1.1 s). Else one uprobe per site.
	p, err := load(a, headers, memlockErr, true, pre)
	if errors.Is(err, errNoMulti) {
		p, err = load(a, headers, memlockErr, false, pre)
	}
	return p, err
}

// errNoMulti: this kernel cannot link a program to many uprobes at once.
var errNoMulti = errors.New("no uprobe_multi links")

// load loads and attaches the probes, from pre's object and with its maps
// where it has them.
func load(a Attachment, headers []string, memlockErr error, multi bool, pre prepared) (_ *Probe, err error) {
	spec, err := pre.freshSpec()
	if err != nil {
		return nil, errorf(records.LoadFailed, "reading the embedded BPF object: %v", err)
	}
	cfg := configFor(a, headers)
	if err := spec.Variables["CFG"].Set(cfg); err != nil {
		return nil, errorf(records.LoadFailed, "configuring the BPF programs: %v", err)
	}
	for name, n := range a.MaxEntries {
		ms := spec.Maps[name]
		if ms == nil {
			return nil, errorf(records.Internal, "no BPF map %q", name)
		}
		ms.MaxEntries = n
	}
	if multi {
		for _, ps := range spec.Programs {
			if strings.HasPrefix(ps.SectionName, "uprobe/") {
				ps.AttachType = ebpf.AttachTraceUprobeMulti
			}
		}
	}

	// Only the programs this binary's plan uses: the verifier's time is
	// most of the time to attach.
	need := map[string]bool{progSysEnter: true, progSockState: true}
	for _, u := range a.Uprobes {
		if spec.Programs[u.Program] == nil {
			return nil, errorf(records.Internal, "no BPF program %q for %s", u.Program, u.Role)
		}
		need[u.Program] = true
	}
	for name := range spec.Programs {
		if !need[name] {
			delete(spec.Programs, name)
		}
	}
	p := &Probe{Headers: headers}
	coll, err := loadCollection(spec, pre.maps)
	if err == nil {
		err = coll.Assign(&p.objs)
		p.progs = coll.Programs
		coll.Programs = nil
		coll.Close() // what Assign did not take: nothing, unless a map is unused
	}
	if err != nil {
		if multi && (errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, syscall.EINVAL)) {
			return nil, errNoMulti
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, errorf(records.LoadFailed, "the kernel's verifier rejected the probes: %+v", ve)
		}
		if errors.Is(err, syscall.EPERM) && memlockErr != nil {
			return nil, errorf(records.NoPrivileges, "loading the BPF programs: %v; the locked-memory limit could not be raised (%v): this kernel may charge BPF memory to it, so run as root, or grant the helper CAP_SYS_RESOURCE too", err, memlockErr)
		}
		if errors.Is(err, syscall.EPERM) {
			return nil, privilegeError(err)
		}
		return nil, errorf(records.LoadFailed, "loading the BPF programs: %v", err)
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	ex, err := link.OpenExecutable(a.Exe)
	if err != nil {
		return nil, errorf(records.Target, "opening %s: %v", a.Exe, err)
	}
	progs := p.progs
	// One link per program, for all its sites.
	type group struct {
		addrs   []uint64
		cookies []uint64 // each address's site_cookie
		syms    []string // each address's function
		funcs   []string // the distinct functions
	}
	groups := map[string]*group{}
	var order []string
	for _, u := range a.Uprobes {
		g := groups[u.Program]
		if g == nil {
			g = &group{}
			groups[u.Program] = g
			order = append(order, u.Program)
		}
		for _, s := range u.Sites {
			g.addrs = append(g.addrs, s.Offset)
			g.cookies = append(g.cookies, siteCookie(s))
			g.syms = append(g.syms, s.Func)
			if !slices.Contains(g.funcs, s.Func) {
				g.funcs = append(g.funcs, s.Func)
			}
		}
	}
	for _, name := range order {
		g := groups[name]
		var ls []link.Link
		if multi {
			l, err := ex.UprobeMulti(nil, progs[name], &link.UprobeMultiOptions{Addresses: g.addrs, Cookies: g.cookies, PID: uint32(a.PID)})
			if errors.Is(err, ebpf.ErrNotSupported) {
				return nil, errNoMulti
			}
			if err != nil {
				return nil, attachError(err, name, g.funcs)
			}
			ls = append(ls, l)
		} else {
			for i, addr := range g.addrs {
				l, err := ex.Uprobe(g.syms[i], progs[name], &link.UprobeOptions{Address: addr, Cookie: g.cookies[i], PID: a.PID})
				if err != nil {
					return nil, attachError(err, name, g.funcs)
				}
				ls = append(ls, l)
			}
		}
		p.links = append(p.links, ls...)
		p.Probes = append(p.Probes, g.funcs...)
		p.attached = append(p.attached, name)
	}
	tracepoints := []struct {
		group, name string
		prog        *ebpf.Program
	}{
		// Every syscall's entry, raw: one link for the connects and all
		// forms of write (removing a link waits for the kernel, one at a
		// time, so fewer links make a faster exit).
		{"", progSysEnter, progs[progSysEnter]},
		{"sock", progSockState, progs[progSockState]},
	}
	for _, t := range tracepoints {
		var l link.Link
		if t.group == "" {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: t.name, Program: t.prog})
		} else {
			l, err = link.Tracepoint(t.group, t.name, t.prog, nil)
		}
		if err != nil {
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
				return nil, privilegeError(err)
			}
			return nil, errorf(records.AttachFailed, "attaching tracepoint %s:%s: %v", t.group, t.name, err)
		}
		p.links = append(p.links, l)
		if t.group == "" {
			p.Probes = append(p.Probes, "raw_syscalls:"+t.name)
		} else {
			p.Probes = append(p.Probes, t.group+":"+t.name)
		}
		p.tps = append(p.tps, tracepointProg{t.name, t.prog})
	}

	p.lru = p.lruMaps(spec)

	// The kernel's BTF was needed for the CO-RE relocations only: give its
	// parsed form (tens of MiB) back before the trace runs for hours.
	btf.FlushKernelSpec()
	debug.FreeOSMemory() // collects, then returns the memory

	p.Reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return nil, errorf(records.LoadFailed, "opening the ring buffer: %v", err)
	}
	return p, nil
}

func attachError(err error, prog string, funcs []string) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return privilegeError(err)
	}
	return errorf(records.AttachFailed, "attaching %s to %s: %v", prog, strings.Join(funcs, ", "), err)
}

func privilegeError(err error) error {
	return errorf(records.NoPrivileges, "not allowed to load BPF programs (%v): run as root (sudo), or grant the helper capabilities once: sudo setcap cap_sys_admin,cap_bpf,cap_perfmon,cap_sys_resource,cap_sys_ptrace,cap_dac_read_search+p <helper>", err)
}

func configFor(a Attachment, headers []string) probeConfig {
	cfg := probeConfig{Tgid: uint32(a.PID), N_headers: uint32(len(headers))}
	v := reflect.ValueOf(&cfg).Elem()
	for _, f := range inspect.OffsetFields {
		v.FieldByName(f.BPF).SetUint(f.Get(a.Offsets))
	}
	if a.Offsets.SwissMaps {
		cfg.SwissMaps = 1
	}
	cfg.N_ctxTypes = uint32(copy(cfg.CtxDeadline[:], a.ContextDeadlines))
	if a.EmptyPrograms {
		cfg.EmptyPrograms = 1
	}
	for _, u := range a.Uprobes {
		switch u.Program {
		case ProgRoundTripEnd:
			cfg.RoundTripEnd = 1 // calls wait for their end
		case ProgH2RoundTripEnd, ProgH2iRoundTripEnd:
			cfg.H2RoundTripEnd = 1
		case ProgGRPCCallEnd:
			cfg.GrpcCallEnd = 1
		}
	}
	cfg.CapturePayload = uint32(PayloadWithoutStatements)
	if a.Statements {
		cfg.CapturePayload = uint32(MaxPayload)
	}
	cfg.EchoAddClosure = a.EchoHandlerClosure
	for i, h := range headers {
		f := fnv.New64a()
		f.Write([]byte(h))
		cfg.HeaderLen[i] = uint32(len(h))
		cfg.HeaderHash[i] = f.Sum64()
		// gRPC metadata keys are lower case
		f.Reset()
		f.Write([]byte(strings.ToLower(h)))
		cfg.MdHeaderHash[i] = f.Sum64()
	}
	cfg.GrpcMdKeyName = a.GRPCMetadataKey
	cfg.GrpcStatusErrorName = a.GRPCStatusError
	return cfg
}

// EnableRunStats makes the kernel count every BPF program's runs and run
// time until the returned closer is closed (it costs a little per run).
func EnableRunStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, errorf(records.Usage, "counting probe runs: %v", err)
	}
	return c, nil
}

type tracepointProg struct {
	name string
	prog *ebpf.Program
}

// RunStats returns each attached program's runs so far (counted only
// while EnableRunStats is on): the uprobe programs, then the tracepoint
// programs by their tracepoint's name (these run for every process's
// syscalls and return at once for those of others).
func (p *Probe) RunStats() []records.ProgramRuns {
	var out []records.ProgramRuns
	add := func(name string, prog *ebpf.Program) {
		if st, err := prog.Stats(); err == nil {
			out = append(out, records.ProgramRuns{Program: name, Runs: st.RunCount, Ns: uint64(st.Runtime.Nanoseconds())})
		}
	}
	progs := p.progs
	for _, name := range p.attached {
		add(name, progs[name])
	}
	for _, t := range p.tps {
		add(t.name, t.prog)
	}
	return out
}

// Lost sums the events the programs dropped because the ring buffer was full.
func (p *Probe) Lost() uint64 {
	n, _ := sumPerCPU(p.objs.Lost, 0)
	return n
}

// sumPerCPU is the sum over the CPUs of a per-CPU array's counter at key.
func sumPerCPU(m *ebpf.Map, key uint32) (uint64, error) {
	var per []uint64
	if err := m.Lookup(key, &per); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// Close detaches every probe and frees the maps. Safe to call twice.
func (p *Probe) Close() {
	if p.Reader != nil {
		p.Reader.Close()
		p.Reader = nil
	}
	// The kernel waits for a grace period as it removes each uprobe: side
	// by side, the waits overlap instead of adding up.
	var wg sync.WaitGroup
	for _, l := range p.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
	p.links = nil
	p.objs.Close()
	for _, prog := range p.progs {
		prog.Close()
	}
	p.progs = nil
}

// siteCookie is the cookie a uprobe site is attached with, read by the
// probes' stack walk (probe.bpf.c's enum site_cookie).
func siteCookie(s inspect.Site) uint64 {
	if s.AtEntry {
		return uint64(probeSiteCookieSITE_AT_ENTRY)
	}
	return 0
}

// loadCollection loads spec's maps (pre's, where it has them), then its
// programs in two halves at once: the verifier, most of the time to
// attach, runs on two CPUs. One CPU, or one program, loads them together.
func loadCollection(spec *ebpf.CollectionSpec, pre map[string]*ebpf.Map) (*ebpf.Collection, error) {
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	opts := ebpf.CollectionOptions{MapReplacements: pre}
	if runtime.NumCPU() < 2 || len(names) < 2 {
		return ebpf.NewCollectionWithOptions(spec, opts)
	}
	coll, err := ebpf.NewCollectionWithOptions(withPrograms(spec, map[string]*ebpf.ProgramSpec{}), opts)
	if err != nil {
		return nil, err
	}
	// Longest first, each to the lighter half: instructions stand in
	// for the verifier's time.
	size := func(n string) int { return len(spec.Programs[n].Instructions) }
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(size(b)-size(a), strings.Compare(a, b)) })
	parts := [2]map[string]*ebpf.ProgramSpec{{}, {}}
	var weight [2]int
	for _, n := range names {
		i := 0
		if weight[1] < weight[0] {
			i = 1
		}
		parts[i][n] = spec.Programs[n]
		weight[i] += size(n)
	}
	var halves [2]*ebpf.CollectionSpec
	for i := range halves {
		halves[i] = withPrograms(spec, parts[i])
	}
	var loaded [2]*ebpf.Collection
	var errs [2]error
	var wg sync.WaitGroup
	for i := range halves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loaded[i], errs[i] = ebpf.NewCollectionWithOptions(halves[i], ebpf.CollectionOptions{MapReplacements: coll.Maps})
		}()
	}
	wg.Wait()
	coll.Programs = map[string]*ebpf.Program{}
	for _, c := range loaded {
		if c == nil {
			continue
		}
		for n, prog := range c.Programs {
			coll.Programs[n] = prog
		}
		c.Programs = nil
		c.Close() // its clones of coll's maps
	}
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		coll.Close()
		return nil, err
	}
	return coll, nil
}

// withPrograms is a copy of spec with only progs for programs: each
// program is copied once, not once per half and once for the maps.
func withPrograms(spec *ebpf.CollectionSpec, progs map[string]*ebpf.ProgramSpec) *ebpf.CollectionSpec {
	s := *spec
	s.Programs = progs
	return s.Copy()
}
