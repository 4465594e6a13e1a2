package inspect

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
	"sync"
)

// gRPC servers (grpc-go). Their probes need DWARF for the stream's layout;
// what else they need is read here from the executable: where the runtime's
// type descriptors start, a type's name, and the method a service type
// implements a gRPC method with.

const (
	grpcProcessUnary     = "google.golang.org/grpc.(*Server).processUnaryRPC"
	grpcProcessStreaming = "google.golang.org/grpc.(*Server).processStreamingRPC"
)

// HasGRPCServer says whether the binary serves gRPC with grpc-go and its
// stream layout is known (from DWARF).
func (b *Binary) HasGRPCServer(o Offsets) bool {
	return o.GRPCStreamMethod != 0 && b.table.LookupFunc(grpcProcessUnary) != nil && b.table.LookupFunc(grpcProcessStreaming) != nil
}

// LinksGRPCServer says whether the binary has grpc-go's server, whatever
// is known of its layout.
func (b *Binary) LinksGRPCServer() bool {
	return b.table.LookupFunc(grpcProcessUnary) != nil
}

// TypeStr is where abi.Type (Go 1.21+) keeps Str, its name: a nameOff
// from the types base (the probes read type names there too).
const TypeStr = 40

// abi.Type (Go 1.21+): TFlag at 20.
const (
	typeTFlag         = 20
	tflagExtraStar    = 1 << 1
	maxTypeNameLength = 512
)

// typesBase is the link-time address of the runtime's type descriptors,
// which a type's name offset counts from (moduledata.types): the linker's
// runtime.types symbol, else the start of the section it puts them in
// (.go.type from Go 1.27, .rodata before).
func (b *Binary) typesBase() (uint64, *elf.Section, bool) {
	b.types.once.Do(func() { b.types.addr, b.types.sect, b.types.ok = b.findTypesBase() })
	return b.types.addr, b.types.sect, b.types.ok
}

// typesInfo is typesBase's answer, found once.
type typesInfo struct {
	once sync.Once
	addr uint64
	sect *elf.Section
	ok   bool
}

func (b *Binary) findTypesBase() (uint64, *elf.Section, bool) {
	sect := b.elf.Section(".go.type")
	if sect == nil {
		sect = b.elf.Section(".rodata")
	}
	if syms, err := b.elf.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.types" {
				for _, sc := range b.elf.Sections {
					if sc.Type == elf.SHT_PROGBITS && s.Value >= sc.Addr && s.Value < sc.Addr+sc.Size {
						sect = sc
					}
				}
				return s.Value, sect, sect != nil
			}
		}
	}
	if sect == nil {
		return 0, nil, false
	}
	return sect.Addr, sect, true
}

// readAt reads the executable's bytes at a link-time address.
func (b *Binary) readAt(addr uint64, n int) []byte {
	for _, p := range b.elf.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr+uint64(n) > p.Vaddr+p.Filesz {
			continue
		}
		buf := make([]byte, n)
		if _, err := b.f.ReadAt(buf, int64(p.Off+addr-p.Vaddr)); err != nil {
			return nil
		}
		return buf
	}
	return nil
}

// TypeName is the name of the runtime type descriptor at a link-time
// address: "*main.server", "main.server" (package names, not paths).
func (b *Binary) TypeName(addr uint64) (name string, ok bool) {
	defer noPanic(&ok)
	base, _, ok := b.typesBase()
	if !ok || addr == 0 {
		return "", false
	}
	t := b.readAt(addr, TypeStr+4)
	if t == nil {
		return "", false
	}
	off := binary.LittleEndian.Uint32(t[TypeStr:])
	// abi.Name: a flags byte, the length as a varint, the bytes.
	raw := b.readAt(base+uint64(off), 1+binary.MaxVarintLen16)
	if raw == nil {
		return "", false
	}
	n, w := binary.Uvarint(raw[1:])
	if w <= 0 || n == 0 || n > maxTypeNameLength {
		return "", false
	}
	s := b.readAt(base+uint64(off)+1+uint64(w), int(n))
	if s == nil {
		return "", false
	}
	name = string(s)
	if t[typeTFlag]&tflagExtraStar != 0 {
		name = strings.TrimPrefix(name, "*")
	}
	return name, true
}

// GRPCMetadataKeyName is the name offset of the type of grpc-go's incoming
// metadata context key (metadata.mdIncomingKey): the probes know that
// key's valueCtx by it. 0: not found.
func (b *Binary) GRPCMetadataKeyName() uint32 {
	return b.typeNameOff("*metadata.mdIncomingKey", "metadata.mdIncomingKey")
}

// GRPCStatusErrorName is the name offset of grpc-go's *status.Error
// (internal/status), the error a gRPC call fails with: the probes read a
// call's status code out of an error of that type only. 0: not found.
func (b *Binary) GRPCStatusErrorName() uint32 {
	return b.typeNameOff("*status.Error")
}

// typeNameOff is the offset from the types base of the first of names
// the executable holds as a runtime type name. 0: none.
func (b *Binary) typeNameOff(names ...string) uint32 {
	base, ro, ok := b.typesBase()
	if !ok {
		return 0
	}
	data, err := ro.Data()
	if err != nil {
		return 0
	}
	for _, name := range names {
		want := append([]byte{byte(len(name))}, name...)
		for from := 0; ; {
			i := bytes.Index(data[from:], want)
			if i < 0 {
				break
			}
			at := from + i
			from = at + 1
			if at < 1 {
				continue
			}
			addr := ro.Addr + uint64(at-1)
			if addr >= base && addr-base < 1<<31 {
				return uint32(addr - base)
			}
		}
	}
	return 0
}

// GRPCMethod finds the method a service implementation's type (the
// runtime type descriptor at a link-time address) has for a gRPC method
// ("/pkg.Service/Method"): its function, file and first line.
func (b *Binary) GRPCMethod(typeAddr uint64, fullMethod string) (fn, file string, line int, ok bool) {
	defer noPanic(&ok)
	method := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	tn, ok := b.TypeName(typeAddr)
	if !ok || method == "" {
		return "", "", 0, false
	}
	ptr := strings.HasPrefix(tn, "*")
	tn = strings.TrimPrefix(tn, "*")
	dot := strings.LastIndex(tn, ".")
	if dot < 0 {
		return "", "", 0, false
	}
	pkg, typ := tn[:dot], tn[dot+1:]
	var suffixes []string
	if ptr {
		suffixes = append(suffixes, pkg+".(*"+typ+")."+method)
	}
	suffixes = append(suffixes, pkg+"."+typ+"."+method)
	for _, suf := range suffixes {
		for i := range b.table.Funcs {
			f := &b.table.Funcs[i]
			if f.Name == suf || strings.HasSuffix(f.Name, "/"+suf) {
				file, line, _ := b.table.PCToLine(f.Entry)
				return f.Name, file, line, true
			}
		}
	}
	return "", "", 0, false
}
