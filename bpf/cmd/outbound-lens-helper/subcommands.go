package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"outboundlens/bpf/inspect"
	"outboundlens/bpf/records"
	"outboundlens/bpf/routes"
)

func printJSON(v any) int {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
		return exitOther
	}
	return 0
}

// runRoutes lists the Gin, chi and echo routes and ServeMux patterns of the
// Go code under a directory.
func runRoutes(args []string) int {
	fs := flag.NewFlagSet("routes", flag.ContinueOnError)
	dir := fs.String("dir", ".", "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	rs, err := routes.Index(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
		return exitOther
	}
	if rs == nil {
		rs = []routes.Route{}
	}
	return printJSON(rs)
}

// runPs lists running Go processes, the given module's first.
func runPs(args []string) int {
	fs := flag.NewFlagSet("ps", flag.ContinueOnError)
	module := fs.String("module", "", "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ps := inspect.GoProcesses(*module)
	if ps == nil {
		ps = []inspect.Process{}
	}
	return printJSON(ps)
}

type checkResult struct {
	Root     bool   `json:"root"`
	Caps     bool   `json:"caps"`
	BTF      bool   `json:"btf"`
	Kernel   string `json:"kernel"`
	CanTrace bool   `json:"canTrace"`
	Reason   string `json:"reason,omitempty"`
}

// runCheck says whether this helper, as it runs now, can trace.
func runCheck(args []string) int {
	var r checkResult
	r.Root = os.Geteuid() == 0
	r.Caps = hasTracingCaps()
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	r.BTF = err == nil
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		r.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	switch {
	case !r.BTF:
		r.Reason = "the kernel has no BTF (/sys/kernel/btf/vmlinux): Linux >= 5.8 with CONFIG_DEBUG_INFO_BTF=y is needed"
	case !r.Root && !r.Caps:
		r.Reason = "needs root or CAP_BPF+CAP_PERFMON: run with sudo, or grant capabilities once with setcap"
	default:
		r.CanTrace = true
	}
	return printJSON(r)
}

type sitesResult struct {
	Exe       string              `json:"exe"`
	GoVersion string              `json:"goVersion"`
	Arch      string              `json:"arch"`
	Sites     []records.ProbeSite `json:"sites"`
	Notes     []string            `json:"notes"`
}

// runSites prints where trace would put its probes in a binary, with the
// class of each instruction and whether the kernel single-steps it.
// Unprivileged: it only reads the file.
func runSites(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "outbound-lens: sites takes one binary\n\n%s", usage)
		return exitUsage
	}
	b, err := inspect.Open(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
		return exitTarget
	}
	defer b.Close()
	off, err := b.Offsets()
	if err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
		return exitTarget
	}
	pl, err := planProbes(b, off, b.HasGRPCServer(off))
	if err != nil {
		fmt.Fprintf(os.Stderr, "outbound-lens: %v\n", err)
		return exitTarget
	}
	r := sitesResult{Exe: args[0], GoVersion: b.GoVersion, Arch: b.Arch, Sites: pl.Sites, Notes: pl.Notes}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	return printJSON(r)
}
