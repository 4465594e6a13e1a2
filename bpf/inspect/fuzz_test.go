package inspect

import (
	"debug/elf"
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzInspect corrupts a real Go executable where a hostile or damaged file
// would: the ELF, program and section headers, .gopclntab, .go.buildinfo,
// the DWARF sections (built uncompressed, so the bytes reach the DWARF
// parser), the code, or by truncating it. Then it does everything the
// helper does with a binary. Nothing may panic, and every refusal must be
// one of the errors the helper turns into an error code.
//
// The inputs are small patches, so the seeds under testdata/fuzz stay a
// few hundred bytes each; the executable is built by the test.
func FuzzInspect(f *testing.F) {
	// kind, region, offset in the region, bytes written there, truncation.
	f.Add(uint8(0), uint8(0), uint32(0), []byte{}, uint32(0))
	f.Add(uint8(1), uint8(0), uint32(0), []byte{}, uint32(0))
	for r := range uint8(len(fuzzRegions)) {
		f.Add(uint8(0), r, uint32(8), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint32(0))
		f.Add(uint8(1), r, uint32(0), make([]byte, 64), uint32(0))
	}
	f.Add(uint8(0), uint8(0), uint32(0), []byte{}, uint32(4096))
	f.Add(uint8(1), uint8(0), uint32(0), []byte{}, uint32(600_000))
	bases := map[uint8][]byte{}
	for kind, name := range []string{"fuzz", "stripped"} {
		data, err := os.ReadFile(testBinaries(f)[name])
		if err != nil {
			f.Fatal(err)
		}
		bases[uint8(kind)] = data
	}
	f.Fuzz(func(t *testing.T, kind, region uint8, off uint32, patch []byte, cut uint32) {
		base := bases[kind%2]
		in := corrupted(base, fuzzRegions[int(region)%len(fuzzRegions)], off, patch, cut)
		inspectAll(t, in)
	})
}

// fuzzRegions name the parts of the file a patch lands in.
var fuzzRegions = []string{
	"elf-header", "program-headers", "section-headers",
	".gopclntab", ".go.buildinfo", ".text", ".shstrtab", ".symtab", ".strtab", ".noptrdata",
	".debug_info", ".debug_abbrev", ".debug_line", ".debug_str", ".debug_ranges", ".debug_rnglists", ".debug_loc", ".debug_frame",
}

// corrupted returns base with patch written at off within region, then
// truncated to cut bytes when cut is not 0.
func corrupted(base []byte, region string, off uint32, patch []byte, cut uint32) *overlay {
	start, size := regionOf(base, region)
	at := start
	if size > 0 {
		at += int(off % uint32(size))
	}
	n := len(base)
	if cut != 0 {
		n = int(cut % uint32(len(base)))
	}
	if at > n {
		at = n
	}
	if at+len(patch) > n {
		patch = patch[:n-at]
	}
	return &overlay{base: base[:n], at: at, patch: patch}
}

// regionOf finds a region's place in the unmodified file; a section the
// binary lacks falls back to the whole file.
func regionOf(base []byte, region string) (start, size int) {
	ef, err := elf.NewFile(&overlay{base: base})
	if err != nil {
		return 0, len(base)
	}
	switch region {
	case "elf-header":
		return 0, 64
	case "program-headers":
		return int(le64(base[32:])), 56 * len(ef.Progs)
	case "section-headers":
		return int(le64(base[40:])), 64 * len(ef.Sections)
	}
	if s := ef.Section(region); s != nil && s.Type != elf.SHT_NOBITS && s.Offset < uint64(len(base)) {
		return int(s.Offset), int(min(s.Size, uint64(len(base))-s.Offset))
	}
	return 0, len(base)
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// overlay reads base with patch written at at, without copying base.
type overlay struct {
	base  []byte
	at    int
	patch []byte
}

func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(o.base)) {
		return 0, io.EOF
	}
	n := copy(p, o.base[off:])
	for i := max(int64(o.at), off); i < min(int64(o.at+len(o.patch)), off+int64(n)); i++ {
		p[i-off] = o.patch[i-int64(o.at)]
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *overlay) Close() error { return nil }

// inspectAll does with the file what the helper does when it traces it.
func inspectAll(t *testing.T, in file) {
	b, err := openFile("corrupt", in)
	if err != nil {
		for _, known := range []error{ErrNotELF, ErrNotGo, ErrUnsupportedGo, ErrUnsupportedArch, ErrUnsupportedBinary} {
			if errors.Is(err, known) {
				return
			}
		}
		t.Fatalf("Open: an error the helper has no code for: %v", err)
	}
	defer b.Close()
	b.Offsets()
	for _, name := range []string{"net/http.serverHandler.ServeHTTP", "runtime.newproc1", "net/http.(*persistConn).roundTrip", "main.callOut"} {
		fn, err := b.Func(name)
		if err != nil {
			continue
		}
		b.RetOffsets(name)
		b.EntrySite(name)
		b.ReturnSites(name)
		b.CallSites("net/http.(*conn).serve", name)
		b.SitesAfterCall("net/http.(*conn).serve", name)
		pcs := []uint64{fn.Entry, fn.Entry + 1, (fn.Entry + fn.End) / 2, fn.End - 1, fn.End}
		for _, pc := range pcs {
			b.Symbolize(pc)
			b.FuncStart(pc)
		}
		b.CallSite(pcs)
	}
}

// panicky is a file whose reads panic, as debug/* may on input it does not
// expect: Open must turn that into ErrUnsupportedBinary and close the file.
type panicky struct{ closed bool }

func (p *panicky) ReadAt([]byte, int64) (int, error) { panic("a read the library did not expect") }
func (p *panicky) Close() error                      { p.closed = true; return nil }

func TestPanicInsideDebugIsAnError(t *testing.T) {
	f := &panicky{}
	b, err := openFile("corrupt", f)
	if b != nil || !errors.Is(err, ErrUnsupportedBinary) || !f.closed {
		t.Fatalf("got %v, %v, closed %v; want ErrUnsupportedBinary and the file closed", b, err, f.closed)
	}
}
