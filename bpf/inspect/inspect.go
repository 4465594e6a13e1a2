// Package inspect reads what the probes need from a Go executable without
// running it: the Go version and build info, function entry and RET
// offsets, struct field offsets, and PC to source position.
package inspect

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MinGoMinor is the oldest Go release (1.MinGoMinor) whose runtime the probes know.
const MinGoMinor = 21

// MaxGoMinor is the newest Go release the offsets table was generated for.
// Newer releases are traced from DWARF; stripped ones are refused.
const MaxGoMinor = 27

var (
	ErrNotELF          = errors.New("not an ELF executable")
	ErrNotGo           = errors.New("not a Go executable (no Go build info)")
	ErrUnsupportedGo   = errors.New("unsupported Go version")
	ErrUnsupportedArch = errors.New("unsupported architecture")
	ErrNoFunc          = errors.New("function not found")
)

// Binary is an opened Go executable.
type Binary struct {
	Path       string
	GoVersion  string            // e.g. go1.26.8
	GoMinor    int               // e.g. 26
	Arch       string            // amd64 or arm64
	PIE        bool              // position independent: runtime PCs need the load bias
	MainModule string            // module path of package main
	Deps       map[string]string // module path -> version
	HasDWARF   bool
	Settings   map[string]string // build settings (-ldflags, GOEXPERIMENT, ...)

	f     *os.File
	elf   *elf.File
	table *gosym.Table
	dwarf *dwarf.Data
	inl   inlineIndex
}

// Func is a function's place in the executable.
type Func struct {
	Name   string
	Entry  uint64 // link-time address
	End    uint64
	Offset uint64 // file offset of the entry
	// Probe is the file offset where an entry uprobe goes: after the
	// prologue's stack check, so that a stack growth, which restarts the
	// function, does not fire it twice. Arguments are still in registers.
	Probe uint64
}

// Open inspects the executable at path.
func Open(path string) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotELF)
	}
	b := &Binary{Path: path, f: f, elf: ef, PIE: ef.Type == elf.ET_DYN}
	fail := func(err error) (*Binary, error) { b.Close(); return nil, err }

	info, err := buildinfo.Read(f)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", path, ErrNotGo))
	}
	b.GoVersion = info.GoVersion
	b.MainModule = info.Main.Path
	b.Deps = map[string]string{}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		b.Deps[d.Path] = d.Version
	}
	b.Settings = map[string]string{}
	for _, s := range info.Settings {
		b.Settings[s.Key] = s.Value
	}
	minor, ok := goMinor(info.GoVersion)
	if !ok || minor < MinGoMinor {
		return fail(fmt.Errorf("%s is built with %s: %w (Outbound Lens needs Go 1.%d or newer; rebuild the service with a newer Go)", path, info.GoVersion, ErrUnsupportedGo, MinGoMinor))
	}
	b.GoMinor = minor
	switch ef.Machine {
	case elf.EM_X86_64:
		b.Arch = "amd64"
	case elf.EM_AARCH64:
		b.Arch = "arm64"
	default:
		return fail(fmt.Errorf("%s is built for %v: %w (amd64 and arm64 are supported)", path, ef.Machine, ErrUnsupportedArch))
	}
	if b.table, err = readTable(ef); err != nil {
		return fail(fmt.Errorf("%s: reading the Go symbol table: %w", path, err))
	}
	if d, err := ef.DWARF(); err == nil {
		b.dwarf = d
		b.HasDWARF = hasInfo(d)
	}
	return b, nil
}

// goMinor parses "go1.26.8", "go1.27rc1", "go1.22.0 X:nocoverageredesign".
func goMinor(v string) (int, bool) {
	v, ok := strings.CutPrefix(v, "go1.")
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	return n, err == nil
}

func hasInfo(d *dwarf.Data) bool {
	e, err := d.Reader().Next()
	return err == nil && e != nil
}

// readTable builds the pclntab-based symbol table. The .gopclntab section
// survives `-ldflags=-s -w`, so stripped binaries still symbolize.
func readTable(ef *elf.File) (*gosym.Table, error) {
	sec := ef.Section(".gopclntab")
	if sec == nil {
		sec = ef.Section(".data.rel.ro.gopclntab")
	}
	if sec == nil {
		return nil, errors.New("no .gopclntab section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	text := ef.Section(".text")
	if text == nil {
		return nil, errors.New("no .text section")
	}
	textStart := text.Addr
	if syms, err := ef.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				textStart = s.Value
				break
			}
		}
	}
	return gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
}

// Close releases the file.
func (b *Binary) Close() error {
	if b == nil || b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	return err
}

// Func finds a function by its full symbol name.
func (b *Binary) Func(name string) (Func, error) {
	fn := b.table.LookupFunc(name)
	if fn == nil {
		return Func{}, fmt.Errorf("%s: %w", name, ErrNoFunc)
	}
	off, err := b.fileOffset(fn.Entry)
	if err != nil {
		return Func{}, err
	}
	f := Func{Name: name, Entry: fn.Entry, End: fn.End, Offset: off, Probe: off}
	head := make([]byte, min(64, fn.End-fn.Entry))
	if _, err := b.f.ReadAt(head, int64(off)); err == nil {
		f.Probe += prologueEnd(b.Arch, head)
	}
	return f, nil
}

// fileOffset maps a link-time address to its offset in the file.
func (b *Binary) fileOffset(addr uint64) (uint64, error) {
	for _, p := range b.elf.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is not in an executable segment", addr)
}

// RetOffsets returns the file offsets of every return instruction in the
// function, found by disassembly (see ReturnSites).
func (b *Binary) RetOffsets(name string) ([]uint64, error) {
	sites, err := b.ReturnSites(name)
	if err != nil {
		return nil, err
	}
	offs := make([]uint64, len(sites))
	for i, s := range sites {
		offs[i] = s.Offset
	}
	return offs, nil
}

// Symbolize maps a link-time PC to function, file and line.
func (b *Binary) Symbolize(pc uint64) (fn, file string, line int, ok bool) {
	file, line, f := b.table.PCToLine(pc)
	if f == nil {
		return "", "", 0, false
	}
	return f.Name, file, line, true
}

// FuncStart maps a function value's code pointer to the function's name and
// first line. Method values (pkg.(*T).m-fm) are mapped to the method itself.
func (b *Binary) FuncStart(pc uint64) (fn, file string, line int, ok bool) {
	f := b.table.PCToFunc(pc)
	if f == nil {
		return "", "", 0, false
	}
	name := f.Name
	if base, isWrapper := strings.CutSuffix(name, "-fm"); isWrapper {
		if m := b.table.LookupFunc(base); m != nil {
			f, name = m, base
		} else {
			// The method was inlined into its wrapper: the first instruction
			// from the method's own source gives its file and a line in it.
			for pc := f.Entry; pc < f.End; pc++ {
				if file, line, _ := b.table.PCToLine(pc); file != "" && file != "<autogenerated>" {
					return base, file, line, true
				}
			}
		}
	}
	file, line, _ = b.table.PCToLine(f.Entry)
	return name, file, line, true
}

// Frame is a source position in the service's own code.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

// CallSite picks the first frame of a user stack (innermost first) that
// belongs to the service: not the standard library, not the runtime, not a
// known client or framework library. pcs[0] is where the probe fired; the
// others are return addresses, so the call itself is one byte before.
func (b *Binary) CallSite(pcs []uint64) *Frame {
	for i, pc := range pcs {
		if i > 0 {
			pc--
		}
		for _, f := range b.frames(pc) {
			if IsServiceCode(f.fn) {
				return &Frame{Func: f.fn, File: f.file, Line: f.line}
			}
		}
	}
	return nil
}

// clientLibs are packages whose frames are never the call site: the service
// calls them, they call out.
var clientLibs = []string{
	"github.com/gin-gonic/",
	"golang.org/x/",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
	"github.com/go-resty/",
	"github.com/valyala/fasthttp",
	"github.com/hashicorp/go-retryablehttp",
	"github.com/jackc/",
	"github.com/lib/pq",
	"github.com/go-sql-driver/mysql",
	"github.com/redis/go-redis",
	"github.com/go-redis/redis",
	"go.mongodb.org/mongo-driver",
	"github.com/aws/aws-sdk-go",
	"go.opentelemetry.io/",
	"github.com/segmentio/kafka-go",
	"github.com/IBM/sarama",
	"github.com/Shopify/sarama",
	"github.com/nats-io/",
	"gorm.io/",
}

// IsServiceCode reports whether a function symbol belongs to the service
// rather than to the standard library or a known client library.
func IsServiceCode(fn string) bool {
	pkg := funcPackage(fn)
	if pkg == "main" || strings.HasPrefix(pkg, "main.") {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	if !strings.Contains(first, ".") {
		return false // the standard library, runtime, type..eq wrappers
	}
	for _, p := range clientLibs {
		if strings.HasPrefix(pkg, p) {
			return false
		}
	}
	return true
}

// funcPackage returns the import path part of a Go symbol name:
// "github.com/a/b.(*T).m" -> "github.com/a/b", "main.f.func1" -> "main".
func funcPackage(fn string) string {
	slash := strings.LastIndex(fn, "/")
	dot := strings.Index(fn[slash+1:], ".")
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}
