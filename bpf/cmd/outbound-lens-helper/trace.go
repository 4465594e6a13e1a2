package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"outboundlens/bpf/inspect"
	"outboundlens/bpf/probe"
	"outboundlens/bpf/records"
	"outboundlens/bpf/tracer"
)

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ",") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// Exit codes: 0 ok, 2 usage, 3 target problem, 4 privileges or kernel, 5 other.
const (
	exitUsage  = 2
	exitTarget = 3
	exitSystem = 4
	exitOther  = 5
)

type traceFlags struct {
	pid      int
	format   string
	headers  headerList
	duration time.Duration
	connect  string
	token    string
	launch   []string
	dir      string     // launch: the service's working directory
	env      headerList // launch: NAME=VALUE added to the service's environment
	envFile  string     // launch: more NAME=VALUE lines, kept off the command line
	// probeStats: count each probe program's runs and time (stats records)
	probeStats bool
	// noStatements: outbound records name a statement's verb and a
	// command, not the statement's text nor the key
	noStatements bool
	// emptyPrograms: the probes attach with programs that return at once
	// and report nothing (npm run bench: the probe hits' own cost)
	emptyPrograms bool
}

func parseTraceFlags(args []string) (*traceFlags, error) {
	f := &traceFlags{}
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&f.pid, "pid", 0, "")
	fs.StringVar(&f.format, "format", "text", "")
	fs.Var(&f.headers, "header", "")
	fs.DurationVar(&f.duration, "duration", 0, "")
	fs.StringVar(&f.connect, "connect", "", "")
	fs.StringVar(&f.token, "token", "", "")
	fs.StringVar(&f.dir, "cwd", "", "")
	fs.Var(&f.env, "env", "")
	fs.StringVar(&f.envFile, "env-file", "", "")
	fs.BoolVar(&f.probeStats, "probe-stats", false, "")
	fs.BoolVar(&f.noStatements, "no-statements", false, "")
	fs.BoolVar(&f.emptyPrograms, "empty-programs", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	f.launch = fs.Args()
	switch {
	case f.pid == 0 && len(f.launch) == 0:
		return nil, errors.New("give a target: --pid PID, or -- /path/to/binary [args...]")
	case f.pid != 0 && len(f.launch) > 0:
		return nil, errors.New("give either --pid or a binary to launch, not both")
	case f.pid < 0:
		return nil, fmt.Errorf("--pid %d is not a process id", f.pid)
	case f.format != "text" && f.format != "ndjson":
		return nil, fmt.Errorf("--format %q: use text or ndjson", f.format)
	case f.connect != "" && f.token == "":
		return nil, errors.New("--connect needs --token")
	case f.pid != 0 && (f.dir != "" || len(f.env) > 0 || f.envFile != ""):
		return nil, errors.New("--cwd, --env and --env-file apply to a binary to launch, not to --pid")
	}
	if f.envFile != "" {
		vars, err := readEnvFile(f.envFile)
		if err != nil {
			return nil, err
		}
		f.env = append(vars, f.env...) // --env wins
	}
	for _, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("--env %q: use NAME=VALUE", kv)
		}
	}
	f.headers = append(headerList{"traceparent"}, f.headers...)
	return f, nil
}

// readEnvFile reads NAME=VALUE lines (values taken literally; blank lines
// and lines starting with # skipped): environment values that should not
// show in the process list, as --env arguments would.
func readEnvFile(path string) (headerList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %v", err)
	}
	var vars headerList
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); !ok || k == "" {
			return nil, fmt.Errorf("--env-file %s:%d: use NAME=VALUE", path, i+1)
		}
		vars = append(vars, line)
	}
	return vars, nil
}

// fail reports an error as a record (ndjson) or a line on stderr, and
// returns the exit code.
func fail(out *tracer.Output, code records.Code, exit int, err error) int {
	fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
	if out != nil {
		out.Record(&records.ErrorRecord{Type: "error", Code: code, Message: err.Error()}, "", "")
		out.Flush()
	}
	return exit
}

func runTrace(args []string) int {
	f, err := parseTraceFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n\n%s", err, usage)
		return exitUsage
	}
	var w io.Writer = os.Stdout
	var conn net.Conn
	if f.connect != "" {
		c, err := net.Dial("unix", f.connect)
		if err != nil {
			fmt.Fprintf(os.Stderr, "outbound-lens: connecting to %s: %v\n", f.connect, err)
			return exitOther
		}
		defer c.Close()
		if _, err := io.WriteString(c, f.token+"\n"); err != nil {
			fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
			return exitOther
		}
		w, conn = c, c
	}
	out, _ := tracer.NewOutput(w, f.format)
	var jsonOut *tracer.Output
	if f.format == "ndjson" {
		jsonOut = out
	}
	// Die with the parent (the editor, a script) rather than trace forever.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)

	if os.Geteuid() != 0 && !hasTracingCaps() {
		return fail(jsonOut, records.NoPrivileges, exitSystem, errors.New(
			"tracing needs root or the capabilities CAP_BPF and CAP_PERFMON: run with sudo, or grant them once with 'sudo setcap "+SetcapCaps+" "+selfPath()+"'"))
	}
	if err := raiseCaps(); err != nil {
		return fail(jsonOut, records.NoPrivileges, exitSystem, fmt.Errorf("raising the helper's capabilities: %v", err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	probe.Prepare() // while the target's binary is read
	var tgt *target
	if len(f.launch) > 0 {
		tgt, err = launchTarget(f.launch, f.dir, f.env)
	} else {
		tgt, err = attachTarget(f.pid)
	}
	if err != nil {
		return failTarget(jsonOut, err)
	}
	defer tgt.close()

	p, tr, sites, err := attach(tgt, f.headers, !f.noStatements, f.emptyPrograms, out)
	if err != nil {
		tgt.abort()
		return failTarget(jsonOut, err)
	}
	defer p.Close()
	if err := tgt.recheck(); err != nil {
		tgt.abort()
		return failTarget(jsonOut, err)
	}
	if f.probeStats {
		c, err := probe.EnableRunStats()
		if err != nil {
			tgt.abort()
			return failTarget(jsonOut, err)
		}
		defer c.Close()
		tr.RunStats = p.RunStats
	}
	tgt.resume()

	if f.format == "ndjson" {
		out.Record(&records.Ready{Type: "ready", PID: tgt.pid, Exe: tgt.exe, GoVersion: tgt.bin.GoVersion,
			Probes: p.Probes, CaptureHeaders: lower(p.Headers), Offsets: tgt.offsets.Source, Sites: sites}, "", "")
		out.Flush()
	}
	empty := ""
	if f.emptyPrograms {
		empty = " (--empty-programs: they record nothing)"
	}
	fmt.Fprintf(os.Stderr, "outbound-lens: tracing pid %d (%s, %s), %d probes attached%s\n", tgt.pid, tgt.exe, tgt.bin.GoVersion, len(p.Probes), empty)

	reason := make(chan string, 8) // one per source below, so none blocks
	go func() { <-ctx.Done(); reason <- "signal" }()
	if f.duration > 0 {
		go func() { time.Sleep(f.duration); reason <- "duration" }()
	}
	go func() { tgt.wait(); reason <- "target-exited" }()
	go func() { tgt.waitExec(); reason <- "target-exec" }()
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		// Started by a program through a pipe: its closing the pipe means stop.
		go func() { io.Copy(io.Discard, os.Stdin); reason <- "stdin-closed" }()
	}
	if conn != nil {
		// Nothing is read from the socket: its end is the reader gone
		// (the editor closed it, or died), and the trace ends with it
		// instead of at the next record it could not take.
		go func() { io.Copy(io.Discard, conn); reason <- "connection-closed" }()
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var why string
	go func() { why = <-reason; cancel() }()
	if err := tracer.Run(runCtx, p, tr, 5*time.Second); err != nil {
		return fail(jsonOut, records.ReadFailed, exitOther, err)
	}
	if why == "target-exec" {
		fmt.Fprintf(os.Stderr, "outbound-lens: pid %d now runs another program (exec); the trace ends\n", tgt.pid)
	}
	if tgt.launched && why != "target-exited" {
		// A service we started for the trace goes away with it.
		tgt.terminate()
	}
	end := &records.End{Type: "end", Reason: why}
	if why == "target-exited" {
		end.Status = tgt.exitStatus()
		fmt.Fprintf(os.Stderr, "outbound-lens: target pid %d exited; probes detached\n", tgt.pid)
	}
	if f.format == "ndjson" {
		out.Record(end, "", "")
		out.Flush()
	}
	return 0
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}

// systemCodes are the error codes about privileges or the kernel (exit 4);
// every other coded error is about the target (exit 3).
var systemCodes = map[records.Code]bool{records.NoPrivileges: true, records.NotPermitted: true, records.LoadFailed: true, records.NoBTF: true, records.NoTracefs: true, records.Usage: true}

func failTarget(out *tracer.Output, err error) int {
	var pe *probe.Error
	if errors.As(err, &pe) {
		exit := exitTarget
		if systemCodes[pe.Code] {
			exit = exitSystem
		}
		return fail(out, pe.Code, exit, err)
	}
	return fail(out, records.Internal, exitOther, err)
}

// attach finds the probe sites in the binary and loads the programs.
func attach(t *target, headers []string, statements, empty bool, out *tracer.Output) (*probe.Probe, *tracer.Tracer, []records.ProbeSite, error) {
	b := t.bin
	a := probe.Attachment{PID: t.pid, Exe: t.attachPath, Headers: headers, Statements: statements, EmptyPrograms: empty}
	off := t.offsets
	a.Offsets = off
	pl, err := planProbes(b, off, b.HasGRPCServer(off))
	if err != nil {
		var u *unplaced
		if errors.As(err, &u) && u.role == roleRequestStart && errors.Is(err, inspect.ErrNoFunc) {
			return nil, nil, nil, &probe.Error{Code: records.NotHTTPServer, Err: fmt.Errorf("%s does not serve HTTP with net/http (%v): Outbound Lens traces Go HTTP services", t.exe, err)}
		}
		return nil, nil, nil, &probe.Error{Code: records.UnsupportedBinary, Err: fmt.Errorf("cannot place the probes in %s: %v", t.exe, err)}
	}
	for _, n := range pl.Notes {
		fmt.Fprintf(os.Stderr, "outbound-lens: %s\n", n)
	}
	a.Uprobes = pl.Uprobes
	if b.HasGRPCServer(off) {
		a.GRPCMetadataKey = b.GRPCMetadataKeyName()
	} else if b.LinksGRPCServer() {
		fmt.Fprintf(os.Stderr, "outbound-lens: %s serves gRPC, but without DWARF its calls are not recorded (rebuild without -w)\n", t.exe)
	}
	if off.GRPCStatusCode != 0 {
		a.GRPCStatusError = b.GRPCStatusErrorName()
	}
	for _, addr := range b.ContextDeadlines() {
		a.ContextDeadlines = append(a.ContextDeadlines, addr+t.bias)
	}
	if addr := b.EchoHandlerClosure(); addr != 0 && off.HasEcho {
		a.EchoHandlerClosure = addr + t.bias
	}
	p, err := probe.Load(a)
	if err != nil {
		return nil, nil, nil, err
	}
	// The connections opened before the trace: their next uses count too.
	conns, err := probe.OpenOutbound(t.pid)
	if err == nil {
		err = p.TrackConnections(conns)
	}
	if err != nil {
		p.Close()
		return nil, nil, nil, &probe.Error{Code: records.Target, Err: fmt.Errorf("reading the open connections of process %d: %v", t.pid, err)}
	}
	tr := &tracer.Tracer{
		PID:        t.pid,
		Out:        out,
		Sym:        symbols{b},
		Headers:    p.Headers,
		Bias:       t.bias,
		MonoToUnix: monoToUnix(),
		Statements: statements,
	}
	return p, tr, pl.Sites, nil
}

// symbols adapts inspect.Binary to what the tracer needs.
type symbols struct{ b *inspect.Binary }

func (s symbols) Symbolize(pc uint64) (string, string, int, bool) { return s.b.Symbolize(pc) }
func (s symbols) FuncStart(pc uint64) (string, string, int, bool) { return s.b.FuncStart(pc) }
func (s symbols) CallPath(pcs []uint64, max int) []tracer.Loc {
	var out []tracer.Loc
	for _, f := range s.b.CallPath(pcs, max) {
		out = append(out, tracer.Loc{Func: f.Func, File: f.File, Line: f.Line})
	}
	return out
}

func (s symbols) GRPCMethod(typeAddr uint64, fullMethod string) (string, string, int, bool) {
	return s.b.GRPCMethod(typeAddr, fullMethod)
}
func (s symbols) CallSite(pcs []uint64) *tracer.Loc {
	f := s.b.CallSite(pcs)
	if f == nil {
		return nil
	}
	return &tracer.Loc{Func: f.Func, File: f.File, Line: f.Line}
}

// monoToUnix is the offset from CLOCK_MONOTONIC (bpf_ktime_get_ns) to Unix time.
func monoToUnix() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Now().UnixNano() - ts.Nano()
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "outbound-lens-helper"
	}
	return p
}
