// Package inspect reads what the probes need from a Go executable without
// running it: the Go version and build info, function entry and RET
// offsets, struct field offsets, and PC to source position.
package inspect

import (
	"bytes"
	"compress/zlib"
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	// ErrUnsupportedBinary: an ELF file, maybe a Go one, whose headers or
	// Go tables (build info, .gopclntab, DWARF) cannot be read: corrupt,
	// truncated, or produced by a tool that rewrote them.
	ErrUnsupportedBinary = errors.New("could not be read as a Go executable")
)

// file is what a Binary reads from: an *os.File, or bytes in the fuzz test.
type file interface {
	io.ReaderAt
	io.Closer
}

// corrupt turns a panic of debug/* on a malformed file into
// ErrUnsupportedBinary. Use as `defer corrupt(path, &err)`.
func corrupt(path string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s %w: its Go tables are malformed (%v); rebuild it with the standard Go toolchain", path, ErrUnsupportedBinary, r)
	}
}

// readBuildInfo is buildinfo.Read that never panics.
func readBuildInfo(r io.ReaderAt) (info *buildinfo.BuildInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed build info (%v)", p)
		}
	}()
	return buildinfo.Read(r)
}

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

	f        file
	elf      *elf.File
	table    *gosym.Table
	dwarf    *dwarf.Data   // the entries only (typesDWARF)
	sections dwarfSections // the DWARF sections read so far
	inl      inlineIndex
	types    typesInfo // where the runtime's type descriptors start (grpc.go)
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
	return openFile(path, f)
}

// openFile reads f and closes it on error. A malformed file gives an error,
// never a panic.
func openFile(path string, f file) (b *Binary, err error) {
	defer func() {
		if err != nil {
			f.Close()
			b = nil
		}
	}()
	defer corrupt(path, &err) // runs first: recover works only in the deferred call itself
	ef, err := elf.NewFile(f)
	if err != nil {
		var magic [4]byte
		if _, rerr := f.ReadAt(magic[:], 0); rerr == nil && string(magic[:]) == elf.ELFMAG {
			return nil, fmt.Errorf("%s %w: the ELF headers are malformed (%v)", path, ErrUnsupportedBinary, err)
		}
		return nil, fmt.Errorf("%s: %w", path, ErrNotELF)
	}
	b = &Binary{Path: path, f: f, elf: ef, PIE: ef.Type == elf.ET_DYN}

	info, err := readBuildInfo(f)
	if err != nil {
		if ef.Section(".go.buildinfo") != nil || ef.Section(".gopclntab") != nil {
			return nil, fmt.Errorf("%s %w: it has Go sections but its build info is unreadable (%v)", path, ErrUnsupportedBinary, err)
		}
		return nil, fmt.Errorf("%s: %w", path, ErrNotGo)
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
		return nil, fmt.Errorf("%s is built with %s: %w (Outbound Lens needs Go 1.%d or newer; rebuild the service with a newer Go)", path, info.GoVersion, ErrUnsupportedGo, MinGoMinor)
	}
	b.GoMinor = minor
	switch ef.Machine {
	case elf.EM_X86_64:
		b.Arch = "amd64"
	case elf.EM_AARCH64:
		b.Arch = "arm64"
	default:
		return nil, fmt.Errorf("%s is built for %v: %w (amd64 and arm64 are supported)", path, ef.Machine, ErrUnsupportedArch)
	}
	if b.table, err = readTable(ef); err != nil {
		return nil, fmt.Errorf("%s %w: reading the Go symbol table: %v", path, ErrUnsupportedBinary, err)
	}
	if d, secs, err := typesDWARF(ef); err == nil {
		b.dwarf, b.sections = d, secs
		b.HasDWARF = hasInfo(d)
	}
	return b, nil
}

// typesDWARF reads the debug info's entries only (.debug_info and what its
// entries refer to), not the line, location and range tables: the struct
// offsets need no more, and decompressing all of it was most of the time
// to attach. The inlined-call index adds the line and range tables when it
// is first needed (fullDWARF), sharing what was read here.
func typesDWARF(ef *elf.File) (*dwarf.Data, dwarfSections, error) {
	secs := dwarfSections{}
	for _, name := range []string{"abbrev", "info", "str", "addr", "line_str", "str_offsets"} {
		data, err := debugSection(ef, name)
		if err != nil {
			return nil, nil, err
		}
		secs[name] = data
	}
	if secs["info"] == nil {
		return nil, nil, errors.New("no .debug_info")
	}
	d, err := secs.data()
	return d, secs, err
}

// dwarfSections are decompressed DWARF sections by name (info, line, …).
type dwarfSections map[string][]byte

func (secs dwarfSections) data() (*dwarf.Data, error) {
	d, err := dwarf.New(secs["abbrev"], nil, nil, secs["info"], secs["line"], nil, secs["ranges"], secs["str"])
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if data := secs[name]; data != nil {
			if err := d.AddSection(".debug_"+name, data); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// debugSection is the DWARF section .debug_name decompressed, nil if absent.
func debugSection(ef *elf.File, name string) ([]byte, error) {
	if s := ef.Section(".debug_" + name); s != nil {
		return s.Data() // decompresses SHF_COMPRESSED sections
	}
	s := ef.Section(".zdebug_" + name)
	if s == nil {
		return nil, nil
	}
	// Go before 1.22 names its zlib-compressed sections .zdebug_*:
	// "ZLIB", the size (big endian), the zlib stream.
	z, err := s.Data()
	if err != nil {
		return nil, err
	}
	if len(z) < 12 || string(z[:4]) != "ZLIB" {
		return z, nil
	}
	size := binary.BigEndian.Uint64(z[4:12])
	zr, err := zlib.NewReader(bytes.NewReader(z[12:]))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	// as much as the stream holds, up to the size it claims (a damaged
	// header must not make us allocate what it says)
	out, err := io.ReadAll(io.LimitReader(zr, int64(min(size, 1<<31))))
	if err == nil && uint64(len(out)) != size {
		err = fmt.Errorf("section .zdebug_%s holds %d bytes, not the %d its header says", name, len(out), size)
	}
	return out, err
}

// fullDWARF is the binary's DWARF with its line and range tables too (for
// inlined calls' ranges and files), on the sections already read; the
// location lists are left out (no variable is read).
func (b *Binary) fullDWARF() (*dwarf.Data, error) {
	for _, name := range []string{"line", "ranges", "rnglists"} {
		data, err := debugSection(b.elf, name)
		if err != nil {
			return nil, err
		}
		b.sections[name] = data
	}
	return b.sections.data()
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
	if err := checkPclntab(data); err != nil {
		return nil, err
	}
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
	if err == nil && len(t.Funcs) == 0 {
		err = errors.New("the .gopclntab lists no functions")
	}
	return t, err
}

// checkPclntab rejects a .gopclntab whose header claims more functions
// than the section holds: debug/gosym allocates that many up front.
// Header (every version since 1.2): magic, 2 zero bytes, PC quantum,
// pointer size, then the function count as a pointer-sized word; each
// function takes at least two 4-byte words of the function table.
func checkPclntab(data []byte) error {
	if len(data) < 16 {
		return errors.New(".gopclntab is truncated")
	}
	var nfunc uint64
	switch ptr := int(data[7]); ptr {
	case 4:
		nfunc = uint64(binary.LittleEndian.Uint32(data[8:]))
	case 8:
		nfunc = binary.LittleEndian.Uint64(data[8:])
	default:
		return fmt.Errorf(".gopclntab has a pointer size of %d", ptr)
	}
	if nfunc > uint64(len(data))/8 {
		return fmt.Errorf(".gopclntab claims %d functions in %d bytes", nfunc, len(data))
	}
	return nil
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
func (b *Binary) Func(name string) (_ Func, err error) {
	defer corrupt(b.Path, &err)
	fn := b.table.LookupFunc(name)
	if fn == nil {
		return Func{}, fmt.Errorf("%s: %w", name, ErrNoFunc)
	}
	off, err := b.fileOffset(fn.Entry, fn.End)
	if err != nil {
		return Func{}, fmt.Errorf("%s: %w", name, err)
	}
	f := Func{Name: name, Entry: fn.Entry, End: fn.End, Offset: off, Probe: off}
	head := make([]byte, min(64, fn.End-fn.Entry))
	if _, err := b.f.ReadAt(head, int64(off)); err == nil {
		f.Probe += prologueEnd(b.Arch, head)
	}
	return f, nil
}

// fileOffset maps the link-time code range [addr, end) to the file offset
// of addr. The whole range must lie in one executable segment, which also
// bounds what a corrupt symbol table can make us read.
func (b *Binary) fileOffset(addr, end uint64) (uint64, error) {
	for _, p := range b.elf.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			if end <= addr || end > p.Vaddr+p.Filesz {
				return 0, fmt.Errorf("%w: code [%#x, %#x) runs outside its segment", ErrUnsupportedBinary, addr, end)
			}
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%w: address %#x is not in an executable segment", ErrUnsupportedBinary, addr)
}

// RetOffsets returns the file offsets of every return instruction in the
// function, found by disassembly (see ReturnSites).
func (b *Binary) RetOffsets(name string) (_ []uint64, err error) {
	defer corrupt(b.Path, &err)
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
	defer noPanic(&ok)
	file, line, f := b.table.PCToLine(pc)
	if f == nil {
		return "", "", 0, false
	}
	return f.Name, file, line, true
}

// FuncStart maps a function value's code pointer to the function's name and
// first line. Method values (pkg.(*T).m-fm) are mapped to the method itself.
func (b *Binary) FuncStart(pc uint64) (fn, file string, line int, ok bool) {
	defer noPanic(&ok)
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
			for pc := f.Entry; pc < f.End && pc < f.Entry+maxScan; pc++ {
				if file, line, _ := b.table.PCToLine(pc); file != "" && file != "<autogenerated>" {
					return base, file, line, true
				}
			}
		}
	}
	file, line, _ = b.table.PCToLine(f.Entry)
	return name, file, line, true
}

// maxScan bounds the byte-by-byte walks over a function's code, which a
// corrupt table could otherwise make gigabytes long. Real wrappers and
// call sites are far shorter.
const maxScan = 1 << 16

// noPanic makes a lookup in malformed tables report "not found": Open
// accepted the tables, but a corrupt entry may still make debug/gosym panic.
func noPanic(ok *bool) {
	if recover() != nil {
		*ok = false
	}
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
func (b *Binary) CallSite(pcs []uint64) (site *Frame) {
	defer func() {
		if recover() != nil {
			site = nil
		}
	}()
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

// CallPath lists a stack's frames in the service's own main module
// (package main and the packages under its module path), innermost first,
// at most max: the call site, then its callers up to the handler. Inlined
// calls count as frames of their own; a frame repeated in a row (a
// recursion) is listed once.
func (b *Binary) CallPath(pcs []uint64, max int) (path []Frame) {
	defer func() {
		if recover() != nil {
			path = nil
		}
	}()
	for i, pc := range pcs {
		if i > 0 {
			pc--
		}
		for _, f := range b.frames(pc) {
			if !b.ownModule(f.fn) || f.file == "<autogenerated>" { // a method value's wrapper has no line of its own
				continue
			}
			fr := Frame{Func: f.fn, File: f.file, Line: f.line}
			if n := len(path); n > 0 && path[n-1] == fr {
				continue
			}
			if path = append(path, fr); len(path) == max {
				return path
			}
		}
	}
	return path
}

func (b *Binary) ownModule(fn string) bool {
	pkg := funcPackage(fn)
	if pkg == "main" || strings.HasPrefix(pkg, "main.") {
		return true
	}
	if b.MainModule == "" || b.MainModule == "command-line-arguments" {
		return false
	}
	return pkg == b.MainModule || strings.HasPrefix(pkg, b.MainModule+"/")
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
