package inspect

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// Offsets are the struct field offsets the probes read, and where they came
// from: "dwarf" or "table:go1.N" for stripped binaries.
type Offsets struct {
	Source string `json:"source"`

	GGoid, GParentGoid                       uint64
	RequestMethod, RequestURL, RequestHeader uint64
	URLPath                                  uint64
	PersistConnConn, PersistConnReused       uint64
	ConnFD                                   uint64
	NetFDFamily, NetFDSotype                 uint64
	NetFDLaddr, NetFDRaddr                   uint64
	TCPAddrIP, TCPAddrPort                   uint64
	TLSConnConn                              uint64

	HasGin                                 bool
	GinContextFullPath, GinContextHandlers uint64

	// SwissMaps: the runtime's maps are Swiss tables (Go 1.24+ unless
	// GOEXPERIMENT=noswissmap), which changes how http.Header is read.
	SwissMaps bool
}

// field names a struct member the probes read.
type field struct {
	typ, member string
	required    bool
	set         func(o *Offsets, v uint64)
}

const ginContext = "github.com/gin-gonic/gin.Context"

var fields = []field{
	{"runtime.g", "goid", true, func(o *Offsets, v uint64) { o.GGoid = v }},
	{"runtime.g", "parentGoid", true, func(o *Offsets, v uint64) { o.GParentGoid = v }},
	{"net/http.Request", "Method", true, func(o *Offsets, v uint64) { o.RequestMethod = v }},
	{"net/http.Request", "URL", true, func(o *Offsets, v uint64) { o.RequestURL = v }},
	{"net/http.Request", "Header", true, func(o *Offsets, v uint64) { o.RequestHeader = v }},
	{"net/url.URL", "Path", true, func(o *Offsets, v uint64) { o.URLPath = v }},
	{"net/http.persistConn", "conn", false, func(o *Offsets, v uint64) { o.PersistConnConn = v }},
	{"net/http.persistConn", "reused", false, func(o *Offsets, v uint64) { o.PersistConnReused = v }},
	{"net.conn", "fd", true, func(o *Offsets, v uint64) { o.ConnFD = v }},
	{"net.netFD", "family", true, func(o *Offsets, v uint64) { o.NetFDFamily = v }},
	{"net.netFD", "sotype", true, func(o *Offsets, v uint64) { o.NetFDSotype = v }},
	{"net.netFD", "laddr", true, func(o *Offsets, v uint64) { o.NetFDLaddr = v }},
	{"net.netFD", "raddr", true, func(o *Offsets, v uint64) { o.NetFDRaddr = v }},
	{"net.TCPAddr", "IP", true, func(o *Offsets, v uint64) { o.TCPAddrIP = v }},
	{"net.TCPAddr", "Port", true, func(o *Offsets, v uint64) { o.TCPAddrPort = v }},
	{"crypto/tls.Conn", "conn", false, func(o *Offsets, v uint64) { o.TLSConnConn = v }},
	{ginContext, "fullPath", false, func(o *Offsets, v uint64) { o.GinContextFullPath = v }},
	{ginContext, "handlers", false, func(o *Offsets, v uint64) { o.GinContextHandlers = v }},
}

// Offsets finds the field offsets: from DWARF when the binary has it,
// otherwise from the table generated for each supported Go release.
func (b *Binary) Offsets() (o Offsets, err error) {
	defer corrupt(b.Path, &err)
	if b.HasDWARF {
		if o, err = b.DWARFOffsets(); err != nil {
			return Offsets{}, err
		}
	} else {
		o, err = b.offsetsFromTable()
		if err != nil {
			return Offsets{}, err
		}
	}
	o.HasGin = o.GinContextFullPath != 0 || b.table.LookupFunc("github.com/gin-gonic/gin.(*Engine).handleHTTPRequest") != nil
	if !o.HasGin {
		o.GinContextFullPath, o.GinContextHandlers = 0, 0
	}
	o.SwissMaps = b.GoMinor >= 26 || (b.GoMinor >= 24 && !strings.Contains(b.Settings["GOEXPERIMENT"], "noswissmap"))
	return o, nil
}

// DWARFOffsets reads the offsets from the binary's debug info.
func (b *Binary) DWARFOffsets() (Offsets, error) {
	if !b.HasDWARF {
		return Offsets{}, fmt.Errorf("%s has no debug info", b.Path)
	}
	o, err := offsetsFromDWARF(b.dwarf)
	if err != nil {
		return Offsets{}, fmt.Errorf("%s: %w", b.Path, err)
	}
	o.Source = "dwarf"
	return o, nil
}

func offsetsFromDWARF(d *dwarf.Data) (Offsets, error) {
	want := map[string]map[string]bool{}
	for _, f := range fields {
		if want[f.typ] == nil {
			want[f.typ] = map[string]bool{}
		}
		want[f.typ][f.member] = true
	}
	found := map[string]map[string]uint64{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return Offsets{}, fmt.Errorf("%w: reading DWARF: %v", ErrUnsupportedBinary, err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagStructType {
			if e.Tag != dwarf.TagCompileUnit && e.Children {
				r.SkipChildren()
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		members, ok := want[name]
		if !ok || found[name] != nil || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		got := map[string]uint64{}
		for {
			c, err := r.Next()
			if err != nil {
				return Offsets{}, fmt.Errorf("%w: reading DWARF: %v", ErrUnsupportedBinary, err)
			}
			if c == nil || c.Tag == 0 {
				break
			}
			if c.Tag == dwarf.TagMember {
				m, _ := c.Val(dwarf.AttrName).(string)
				if loc, ok := c.Val(dwarf.AttrDataMemberLoc).(int64); ok && members[m] {
					got[m] = uint64(loc)
				}
			}
			if c.Children {
				r.SkipChildren()
			}
		}
		found[name] = got
	}
	var o Offsets
	var missing []string
	for _, f := range fields {
		v, ok := found[f.typ][f.member]
		if !ok {
			if f.required {
				missing = append(missing, f.typ+"."+f.member)
			}
			continue
		}
		f.set(&o, v)
	}
	if len(missing) > 0 {
		return Offsets{}, fmt.Errorf("the debug info lacks %s: is this a net/http service?", strings.Join(missing, ", "))
	}
	return o, nil
}

// offsetsFromTable serves binaries built with -ldflags=-w (no DWARF).
func (b *Binary) offsetsFromTable() (Offsets, error) {
	std, ok := stdTable[b.GoMinor]
	if !ok {
		return Offsets{}, fmt.Errorf("%s has no debug info (built with -ldflags=-w) and %s is newer than the offsets Outbound Lens knows (Go 1.%d to 1.%d): rebuild without -w", b.Path, b.GoVersion, MinGoMinor, MaxGoMinor)
	}
	o := std
	o.Source = fmt.Sprintf("table:go1.%d", b.GoMinor)
	if _, ok := b.Deps["github.com/gin-gonic/gin"]; ok {
		o.GinContextFullPath, o.GinContextHandlers = ginTable.GinContextFullPath, ginTable.GinContextHandlers
	}
	return o, nil
}
