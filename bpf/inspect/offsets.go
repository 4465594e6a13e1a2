package inspect

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
)

// Offsets are the struct field offsets the probes read, and where they came
// from: "dwarf" or "table:go1.N" for stripped binaries.
//
// This struct is the one declaration of each offset: its tag names the Go
// struct member it is read from (`dwarf:"type,member[,required]"`) and the
// field of the BPF programs' config it is handed to (`bpf:"Name"`, the
// bpf2go name of probe.bpf.c's struct config member). The DWARF reader,
// the per-release table generator and the loader all walk these tags.
type Offsets struct {
	Source string `json:"source"`

	GGoid                uint64 `dwarf:"runtime.g,goid,required" bpf:"G_goid"`
	GParentGoid          uint64 `dwarf:"runtime.g,parentGoid,required" bpf:"G_parentGoid"`
	RequestMethod        uint64 `dwarf:"net/http.Request,Method,required" bpf:"RequestMethod"`
	RequestURL           uint64 `dwarf:"net/http.Request,URL,required" bpf:"RequestUrl"`
	RequestHeader        uint64 `dwarf:"net/http.Request,Header,required" bpf:"RequestHeader"`
	URLPath              uint64 `dwarf:"net/url.URL,Path,required" bpf:"UrlPath"`
	PersistConnConn      uint64 `dwarf:"net/http.persistConn,conn" bpf:"PconnConn"`
	PersistConnReused    uint64 `dwarf:"net/http.persistConn,reused" bpf:"PconnReused"`
	ConnFD               uint64 `dwarf:"net.conn,fd,required" bpf:"ConnFd"`
	NetFDFamily          uint64 `dwarf:"net.netFD,family,required" bpf:"NetfdFamily"`
	NetFDSotype          uint64 `dwarf:"net.netFD,sotype,required" bpf:"NetfdSotype"`
	NetFDLaddr           uint64 `dwarf:"net.netFD,laddr,required" bpf:"NetfdLaddr"`
	NetFDRaddr           uint64 `dwarf:"net.netFD,raddr,required" bpf:"NetfdRaddr"`
	TCPAddrIP            uint64 `dwarf:"net.TCPAddr,IP,required" bpf:"TcpaddrIp"`
	TCPAddrPort          uint64 `dwarf:"net.TCPAddr,Port,required" bpf:"TcpaddrPort"`
	TLSConnConn          uint64 `dwarf:"crypto/tls.Conn,conn" bpf:"TlsconnConn"`
	RequestCtx           uint64 `dwarf:"net/http.Request,ctx,required" bpf:"RequestCtx"`
	TransportRequest     uint64 `dwarf:"net/http.transportRequest,Request" bpf:"TreqRequest"`
	NetFDPfd             uint64 `dwarf:"net.netFD,pfd,required" bpf:"NetfdPfd"`
	PollFDSysfd          uint64 `dwarf:"internal/poll.FD,Sysfd,required" bpf:"PollfdSysfd"`
	H2ConnTconn          uint64 `dwarf:"net/http.http2ClientConn,tconn" bpf:"H2ccTconn"`
	H2InternalTconn      uint64 `dwarf:"net/http/internal/http2.ClientConn,tconn" bpf:"H2iccTconn"`
	H2InternalReqCtx     uint64 `dwarf:"net/http/internal/http2.ClientRequest,Context" bpf:"H2ireqCtx"`
	GRPCClientConn       uint64 `dwarf:"google.golang.org/grpc/internal/transport.http2Client,conn" bpf:"GrpcClientConn"`
	GRPCCallHdrHost      uint64 `dwarf:"google.golang.org/grpc/internal/transport.CallHdr,Host" bpf:"GrpcCallhdrHost"`
	GRPCCallHdrMethod    uint64 `dwarf:"google.golang.org/grpc/internal/transport.CallHdr,Method" bpf:"GrpcCallhdrMethod"`
	URLScheme            uint64 `dwarf:"net/url.URL,Scheme,required" bpf:"UrlScheme"`
	ResponseStatus       uint64 `dwarf:"net/http.Response,StatusCode,required" bpf:"ResponseStatus"`
	URLHost              uint64 `dwarf:"net/url.URL,Host,required" bpf:"UrlHost"`
	H2InternalReqMeth    uint64 `dwarf:"net/http/internal/http2.ClientRequest,Method" bpf:"H2ireqMethod"`
	H2InternalReqURL     uint64 `dwarf:"net/http/internal/http2.ClientRequest,URL" bpf:"H2ireqUrl"`
	H2InternalRespStatus uint64 `dwarf:"net/http/internal/http2.ClientResponse,StatusCode" bpf:"H2irespStatus"`
	GinContextFullPath   uint64 `dwarf:"github.com/gin-gonic/gin.Context,fullPath" bpf:"GinFullpath"`
	GinContextHandlers   uint64 `dwarf:"github.com/gin-gonic/gin.Context,handlers" bpf:"GinHandlers"`
	// chi's routing context: the patterns of the routers a request went
	// through. Echo's context: the matched route path and handler.
	ChiContextRoutePatterns uint64 `dwarf:"github.com/go-chi/chi/v5.Context,RoutePatterns" bpf:"ChiRoutePatterns"`
	EchoContextPath         uint64 `dwarf:"github.com/labstack/echo/v4.context,path" bpf:"EchoPath"`
	EchoContextHandler      uint64 `dwarf:"github.com/labstack/echo/v4.context,handler" bpf:"EchoHandler"`
	// The ServeMux pattern that matched: Request.Pattern from Go 1.23,
	// Request.pat (a *pattern, its str) in Go 1.22; Go 1.21 has neither.
	RequestPattern uint64 `dwarf:"net/http.Request,Pattern" bpf:"RequestPattern"`
	RequestPat     uint64 `dwarf:"net/http.Request,pat" bpf:"RequestPat"`
	PatternStr     uint64 `dwarf:"net/http.pattern,str" bpf:"PatternStr"`
	// gRPC servers (grpc-go, from DWARF only): a stream's full method, in
	// the Stream that ServerStream embeds (grpc-go 1.7x+; Stream itself
	// before), and the service implementation a call is served by.
	GRPCServerStreamStream uint64 `dwarf:"google.golang.org/grpc/internal/transport.ServerStream,Stream" bpf:"GrpcStreamStream"`
	GRPCStreamMethod       uint64 `dwarf:"google.golang.org/grpc/internal/transport.Stream,method" bpf:"GrpcStreamMethod"`
	GRPCServiceImpl        uint64 `dwarf:"google.golang.org/grpc.serviceInfo,serviceImpl" bpf:"GrpcInfoImpl"`
	// gRPC clients (grpc-go, from DWARF only): an attempt's clientStream
	// and its CallHdr (the one the transport's NewStream got), and the code
	// of a *status.Error: Error.s (*Status), Status.s (*spb.Status), Code.
	GRPCAttemptStream uint64 `dwarf:"google.golang.org/grpc.csAttempt,cs" bpf:"GrpcAttemptCs"`
	GRPCStreamCallHdr uint64 `dwarf:"google.golang.org/grpc.clientStream,callHdr" bpf:"GrpcCsCallhdr"`
	GRPCErrorStatus   uint64 `dwarf:"google.golang.org/grpc/internal/status.Error,s" bpf:"GrpcErrStatus"`
	GRPCStatusProto   uint64 `dwarf:"google.golang.org/grpc/internal/status.Status,s" bpf:"GrpcStatusProto"`
	GRPCStatusCode    uint64 `dwarf:"google.golang.org/genproto/googleapis/rpc/status.Status,Code" bpf:"GrpcProtoCode"`

	HasGin  bool
	HasChi  bool // chi v5's routing context is known
	HasEcho bool // echo v4's context is known

	// SwissMaps: the runtime's maps are Swiss tables (Go 1.24+ unless
	// GOEXPERIMENT=noswissmap), which changes how http.Header is read.
	SwissMaps bool
}

// OffsetField is one offset of Offsets, as its tags declare it.
type OffsetField struct {
	Name     string // the Offsets field
	Type     string // the Go struct it is a member of, e.g. net/http.Request
	Member   string
	Required bool   // a net/http service always has it
	BPF      string // the BPF config field it goes to
	index    int
}

// Get reads this offset from o.
func (f OffsetField) Get(o Offsets) uint64 { return reflect.ValueOf(o).Field(f.index).Uint() }

func (f OffsetField) set(o *Offsets, v uint64) { reflect.ValueOf(o).Elem().Field(f.index).SetUint(v) }

// OffsetFields lists the offsets in declaration order.
var OffsetFields = offsetFields()

func offsetFields() []OffsetField {
	var out []OffsetField
	t := reflect.TypeOf(Offsets{})
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("dwarf")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		if len(parts) < 2 || sf.Type.Kind() != reflect.Uint64 {
			panic("inspect: bad dwarf tag on Offsets." + sf.Name)
		}
		out = append(out, OffsetField{Name: sf.Name, Type: parts[0], Member: parts[1],
			Required: len(parts) > 2 && parts[2] == "required", BPF: sf.Tag.Get("bpf"), index: i})
	}
	return out
}

const ginContext = "github.com/gin-gonic/gin.Context"

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
	o.HasChi = o.ChiContextRoutePatterns != 0
	o.HasEcho = o.EchoContextPath != 0 && o.EchoContextHandler != 0
	if !o.HasEcho {
		o.EchoContextPath, o.EchoContextHandler = 0, 0
	}
	o.SwissMaps = b.GoMinor >= 26 || (b.GoMinor >= 24 && !strings.Contains(b.Settings["GOEXPERIMENT"], "noswissmap"))
	return o, nil
}

// DWARFOffsets reads the offsets from the binary's debug info.
func (b *Binary) DWARFOffsets() (Offsets, error) {
	if !b.HasDWARF {
		return Offsets{}, fmt.Errorf("%s has no debug info", b.Path)
	}
	o, err := offsetsFromDWARF(b.dwarf, typeUnits(b.dwarf, b.sections["info"], b.elf.ByteOrder))
	if err != nil {
		return Offsets{}, fmt.Errorf("%s: %w", b.Path, err)
	}
	o.Source = "dwarf"
	return o, nil
}

// typeUnits are the offsets of the first entries of the compile units
// named "runtime", the largest first: Go's linker puts every type's entry
// there. Nil if the unit headers cannot be read.
func typeUnits(d *dwarf.Data, info []byte, order binary.ByteOrder) []dwarf.Offset {
	var units []dwarf.Offset
	var largest uint64
	r := d.Reader()
	for off := uint64(0); off+4 <= uint64(len(info)); {
		n := uint64(order.Uint32(info[off:]))
		hdr, offSize := uint64(4), uint64(4)
		if n == 0xffffffff { // 64-bit DWARF
			if off+12 > uint64(len(info)) {
				return nil
			}
			n, hdr, offSize = order.Uint64(info[off+4:]), 12, 8
		}
		if n < 2 || n > uint64(len(info))-off-hdr {
			return nil
		}
		// The unit's first entry follows its header: version, then
		// (DWARF 5) unit type and address size, the abbreviations'
		// offset, (DWARF 4) the address size.
		first := off + hdr + 2 + offSize + 1
		if order.Uint16(info[off+hdr:]) >= 5 {
			first++
		}
		r.Seek(dwarf.Offset(first))
		e, err := r.Next()
		if err != nil || e == nil || e.Tag != dwarf.TagCompileUnit {
			return nil
		}
		if name, _ := e.Val(dwarf.AttrName).(string); name == "runtime" {
			// the types make theirs by far the largest unit: try it first
			if n > largest {
				units = append([]dwarf.Offset{dwarf.Offset(first)}, units...)
				largest = n
			} else {
				units = append(units, dwarf.Offset(first))
			}
		}
		off += hdr + n
	}
	return units
}

// offsetsFromDWARF reads the offsets from the first of units (typeUnits),
// else from all of them, else, if that finds a required one missing, from
// every unit.
func offsetsFromDWARF(d *dwarf.Data, units []dwarf.Offset) (Offsets, error) {
	if len(units) > 0 {
		if o, err := offsetsFromUnits(d, units[:1]); err == nil {
			return o, nil
		}
		if o, err := offsetsFromUnits(d, units); err == nil {
			return o, nil
		}
	}
	return offsetsFromUnits(d, nil)
}

func offsetsFromUnits(d *dwarf.Data, units []dwarf.Offset) (Offsets, error) {
	want := map[string]map[string]bool{}
	for _, f := range OffsetFields {
		if want[f.Type] == nil {
			want[f.Type] = map[string]bool{}
		}
		want[f.Type][f.Member] = true
	}
	found := map[string]map[string]uint64{}
	r := d.Reader()
	all := units == nil
	if !all && len(units) > 0 {
		r.Seek(units[0])
		units = units[1:]
	}
	inUnit := false
	for {
		e, err := r.Next()
		if err != nil {
			return Offsets{}, fmt.Errorf("%w: reading DWARF: %v", ErrUnsupportedBinary, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit && !all {
			if inUnit { // past the unit: on to the next one asked for
				if len(units) == 0 {
					break
				}
				r.Seek(units[0])
				units = units[1:]
				inUnit = false
				continue
			}
			inUnit = true
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
	for _, f := range OffsetFields {
		v, ok := found[f.Type][f.Member]
		if !ok {
			if f.Required {
				missing = append(missing, f.Type+"."+f.Member)
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

// ReleaseOffsets are the offsets a binary built with Go 1.minor
// (MinGoMinor to MaxGoMinor) that uses Gin, chi and Echo gets without its
// DWARF, and whether that release is known.
func ReleaseOffsets(minor int) (Offsets, bool) {
	std, ok := stdTable[minor]
	if !ok {
		return Offsets{}, false
	}
	return withFrameworks(std, map[string]string{ginModule: "", chiModule: "", echoModule: "v4.13.0"}), true
}

// offsetsFromTable serves binaries built with -ldflags=-w (no DWARF).
func (b *Binary) offsetsFromTable() (Offsets, error) {
	std, ok := stdTable[b.GoMinor]
	if !ok {
		return Offsets{}, fmt.Errorf("%s has no debug info (built with -ldflags=-w) and %s is newer than the offsets Outbound Lens knows (Go 1.%d to 1.%d): rebuild without -w", b.Path, b.GoVersion, MinGoMinor, MaxGoMinor)
	}
	o := withFrameworks(std, b.Deps)
	o.Source = fmt.Sprintf("table:go1.%d", b.GoMinor)
	return o, nil
}

// withFrameworks adds to o the offsets of the routers among deps (module
// path -> version).
func withFrameworks(o Offsets, deps map[string]string) Offsets {
	if _, ok := deps[ginModule]; ok {
		for _, f := range OffsetFields {
			if f.Type == ginContext {
				f.set(&o, f.Get(ginTable))
			}
		}
	}
	if _, ok := deps[chiModule]; ok {
		o.ChiContextRoutePatterns = chiTable.ChiContextRoutePatterns
	}
	if v, ok := deps[echoModule]; ok {
		t := echoTable(v)
		o.EchoContextPath, o.EchoContextHandler = t.EchoContextPath, t.EchoContextHandler
	}
	return o
}

// EchoHandlerClosure is the link-time entry of the closure echo v4's
// Echo.add registers for every route (it applies the route's middleware
// and calls the handler, its first captured variable); 0 if none.
func (b *Binary) EchoHandlerClosure() uint64 {
	if f := b.table.LookupFunc(echoModule + ".(*Echo).add.func1"); f != nil {
		return f.Entry
	}
	return 0
}

// contextTypes are the context package's types whose parent Context is
// their first word (embedded or not), so a chain of them can be walked up.
var contextTypes = []string{"cancelCtx", "timerCtx", "valueCtx", "withoutCancelCtx", "afterFuncCtx"}

// ContextDeadlines returns the link-time entries of those types'
// (*T).Deadline methods. A context.Context's itab holds its type's methods
// in name order from its fourth word, Deadline first: the probes compare
// that word with these to know a context's type. Read from the Go symbol
// table, which stripped binaries keep.
func (b *Binary) ContextDeadlines() []uint64 {
	var out []uint64
	for _, t := range contextTypes {
		if f := b.table.LookupFunc("context.(*" + t + ").Deadline"); f != nil {
			out = append(out, f.Entry)
		}
	}
	return out
}
