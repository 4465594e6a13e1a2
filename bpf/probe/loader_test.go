package probe

import (
	"errors"
	"os"
	"reflect"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"

	"outboundlens/bpf/inspect"
)

// Load must pass this kernel's verifier with the hmap and Swiss-map
// header scans; without privileges, it must say so with its code.
func TestLoadVerifies(t *testing.T) {
	for _, swiss := range []bool{false, true} {
		a := Attachment{PID: os.Getpid(), Exe: "/proc/self/exe", Headers: []string{"traceparent", "x-request-id"}}
		a.Offsets.SwissMaps = swiss
		p, err := Load(a)
		if os.Geteuid() != 0 {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "NO_PRIVILEGES" {
				t.Fatalf("unprivileged Load: want NO_PRIVILEGES, got %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Load (swiss=%v): %v", swiss, err)
		}
		if len(p.Probes) != 2 {
			t.Errorf("want the 2 tracepoints attached (every syscall's entry, socket state), got %v", p.Probes)
		}
		p.Close()
	}
}

// Every program, not only those a plan attaches, passes this kernel's
// verifier with each supported release's offsets (those a binary without
// DWARF gets, Gin, chi and Echo included), with hmaps and Swiss maps, and
// with a few headers or as many as can be asked for: the header scans'
// states grow with them (three, inlined, once took a kernel past its
// million instructions).
func TestEveryProgramVerifies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root") // TestLoadVerifies checks the error without it
	}
	names := []string{"traceparent", "x-other", "x-test-id", "x-amzn-trace-id", "x-tenant",
		"authorization-context-for-an-internal-gateway-with-a-long-name", "x", "x-correlation-id"}
	if len(names) != MaxHeaders {
		t.Fatalf("the header list has %d names, want MaxHeaders (%d)", len(names), MaxHeaders)
	}
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	maps := createMaps(spec)
	if maps == nil {
		t.Fatal("creating the maps failed")
	}
	defer closeMaps(maps)
	var ends []Uprobe // every flag a plan's probes set
	for _, p := range []string{ProgRoundTripEnd, ProgH2RoundTripEnd, ProgGRPCCallEnd} {
		ends = append(ends, Uprobe{Program: p})
	}
	most := 0 // the most instructions the verifier walked in one program
	for minor := inspect.MinGoMinor; minor <= inspect.MaxGoMinor; minor++ {
		offsets, ok := inspect.ReleaseOffsets(minor)
		if !ok {
			t.Fatalf("no offsets for Go 1.%d", minor)
		}
		// Swiss maps from Go 1.24; 1.24 could still build with hmaps
		// (GOEXPERIMENT=noswissmap)
		kinds := []bool{minor >= 24}
		if minor == 24 {
			kinds = append(kinds, false)
		}
		for _, headers := range [][]string{names[:3], names} {
			for _, swiss := range kinds {
				a := Attachment{PID: os.Getpid(), Offsets: offsets, Uprobes: ends, ContextDeadlines: []uint64{1, 2, 3, 4, 5},
					EchoHandlerClosure: 0x1000, GRPCStatusError: 0x2000}
				a.Offsets.SwissMaps = swiss
				s := spec.Copy()
				if err := s.Variables["CFG"].Set(configFor(a, CanonicalHeaders(headers))); err != nil {
					t.Fatal(err)
				}
				coll, err := loadCollection(s, maps)
				if err != nil {
					t.Fatalf("Go 1.%d offsets, swiss=%v, %d headers: %v", minor, swiss, len(headers), err)
				}
				for name, prog := range coll.Programs {
					info, err := prog.Info()
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					n, ok := info.VerifiedInstructions() // from 5.16; bpf_loop needs 5.17
					if !ok {
						t.Fatalf("%s: the kernel did not say how many instructions it verified", name)
					}
					if int(n) > most {
						most = int(n)
						t.Logf("%s: %d instructions verified (Go 1.%d offsets, swiss=%v, %d headers)", name, n, minor, swiss, len(headers))
					}
				}
				coll.Close()
			}
		}
	}
	// Kernels differ in how many states they keep apart: a program far
	// under the limit here stays under it on them.
	if most > verifiedMargin {
		t.Errorf("a program took %d verified instructions, over the margin of %d kept under the kernel's 1 000 000", most, verifiedMargin)
	}
}

// verifiedMargin is the most instructions a program may take the
// verifier here.
const verifiedMargin = 250_000

func TestCanonicalHeaders(t *testing.T) {
	got := CanonicalHeaders([]string{"traceparent", "X-REQUEST-ID", "Traceparent", " "})
	want := []string{"Traceparent", "X-Request-Id"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Every offset is handed to a field of the BPF config, and every offset
// field of the config comes from inspect.Offsets: adding one to
// probe.bpf.c's struct config without declaring where it is read fails here.
func TestConfigOffsetsDeclaredOnce(t *testing.T) {
	cfg := reflect.TypeOf(probeConfig{})
	fromOffsets := map[string]bool{}
	for _, f := range inspect.OffsetFields {
		sf, ok := cfg.FieldByName(f.BPF)
		if !ok || sf.Type.Kind() != reflect.Uint64 {
			t.Errorf("inspect.Offsets.%s goes to config field %q, which probe.bpf.c's struct config lacks (or is not a u64)", f.Name, f.BPF)
		}
		fromOffsets[f.BPF] = true
	}
	notOffsets := map[string]bool{"Tgid": true, "SwissMaps": true, "N_headers": true, "HeaderLen": true, "HeaderHash": true, "N_ctxTypes": true, "CtxDeadline": true,
		"CapturePayload": true, "RoundTripEnd": true, "H2RoundTripEnd": true, "EchoAddClosure": true, "GrpcMdKeyName": true, "MdHeaderHash": true,
		"GrpcStatusErrorName": true, "GrpcCallEnd": true, "EmptyPrograms": true}
	for i := 0; i < cfg.NumField(); i++ {
		sf := cfg.Field(i)
		if sf.Name == "_" || notOffsets[sf.Name] {
			continue
		}
		if !fromOffsets[sf.Name] {
			t.Errorf("config field %s is set from no inspect.Offsets field (add a bpf tag there)", sf.Name)
		}
	}
	// And the values arrive.
	var o inspect.Offsets
	o.GParentGoid, o.GinContextHandlers = 272, 80
	c := configFor(Attachment{PID: 7, Offsets: o, ContextDeadlines: []uint64{0x1000, 0x2000}, EchoHandlerClosure: 0x3000, EmptyPrograms: true}, nil)
	if c.G_parentGoid != 272 || c.GinHandlers != 80 || c.Tgid != 7 || c.N_ctxTypes != 2 || c.CtxDeadline[1] != 0x2000 || c.EchoAddClosure != 0x3000 || c.EmptyPrograms != 1 {
		t.Errorf("config %+v", c)
	}
	// gRPC calls await their end only where its probe is attached.
	if c.GrpcCallEnd != 0 {
		t.Errorf("gRPC calls await an end no probe reports")
	}
	c = configFor(Attachment{Uprobes: []Uprobe{{Program: ProgGRPCCallEnd}}, GRPCStatusError: 4242}, nil)
	if c.GrpcCallEnd != 1 || c.GrpcStatusErrorName != 4242 {
		t.Errorf("with the gRPC call end probe: config %+v", c)
	}
}

// Both ways of attaching uprobes work here: one uprobe_multi link per
// program (kernels from 6.6), and one uprobe per site (the fallback).
func TestLoadBothLinkKinds(t *testing.T) {
	b, err := inspect.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	site, err := b.EntrySite("net.(*Dialer).DialContext")
	if err != nil {
		t.Fatal(err)
	}
	a := Attachment{PID: os.Getpid(), Exe: "/proc/self/exe", Uprobes: []Uprobe{{Role: "dial", Program: ProgDial, Sites: []inspect.Site{site}}}}
	for _, multi := range []bool{true, false} {
		p, err := load(a, nil, nil, multi, prepared{})
		if os.Geteuid() != 0 {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "NO_PRIVILEGES" {
				t.Fatalf("unprivileged load: want NO_PRIVILEGES, got %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("multi=%v: %v", multi, err)
		}
		if len(p.links) != 3 || len(p.attached) != 1 {
			t.Errorf("multi=%v: %d links, programs %v; want the uprobe and the 2 tracepoints", multi, len(p.links), p.attached)
		}
		p.Close()
	}
}

// The probes read a type's name where inspect finds it.
func TestTypeNameOffset(t *testing.T) {
	if int(probeGoAbiABI_TYPE_STR) != inspect.TypeStr {
		t.Fatalf("probe.bpf.c reads a type's name at %d, inspect at %d", probeGoAbiABI_TYPE_STR, inspect.TypeStr)
	}
}

// The two halves loadCollection verifies at once must share one set of
// maps: a program of either half that refers to a map refers to the
// collection's, not to a copy of its own.
func TestLoadedHalvesShareMaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the programs load in one piece")
	}
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	coll, err := loadCollection(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	if len(coll.Programs) != len(spec.Programs) {
		t.Fatalf("%d programs loaded, want %d", len(coll.Programs), len(spec.Programs))
	}
	ids := map[ebpf.MapID]string{}
	for name, m := range coll.Maps {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ids[id] = name
	}
	for name, prog := range coll.Programs {
		info, err := prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		used, ok := info.MapIDs()
		if !ok {
			t.Skip("this kernel does not list a program's maps")
		}
		if len(used) == 0 {
			t.Errorf("%s uses no map", name)
		}
		for _, id := range used {
			if _, ok := ids[id]; !ok {
				t.Errorf("%s uses map %d, not one of the collection's", name, id)
			}
		}
	}
}

// The maps Prepare creates while the binary is read are the ones Load's
// programs use, but for a map the attachment sizes.
func TestLoadUsesPreparedMaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	Prepare()
	<-premade.done
	if premade.maps == nil {
		t.Fatal("Prepare made no maps")
	}
	made := map[string]ebpf.MapID{}
	for name, m := range premade.maps {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		made[name], _ = info.ID()
	}
	a := Attachment{PID: os.Getpid(), Exe: "/proc/self/exe", MaxEntries: map[string]uint32{"dial_name": 16}}
	p, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if premade.done != nil || premade.maps != nil || premade.spec != nil {
		t.Error("Load left the prepared maps for another")
	}
	id := func(m *ebpf.Map) ebpf.MapID {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		i, _ := info.ID()
		return i
	}
	if got := id(p.objs.GoroutineRequest); got != made["goroutine_request"] {
		t.Errorf("goroutine_request is map %d, not the prepared %d", got, made["goroutine_request"])
	}
	if got := id(p.objs.DialName); got == made["dial_name"] {
		t.Errorf("dial_name is the prepared map %d, not one of the attachment's size", got)
	}
	if n := p.objs.DialName.MaxEntries(); n != 16 {
		t.Errorf("dial_name holds %d entries, want 16", n)
	}
}
