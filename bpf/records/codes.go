package records

// Code is an error record's code. Codes are part of the contract.
type Code string

// The error codes, one a line: a new code is one more line here, then
// `go generate ./records` in bpf/.
const (
	NoBTF             Code = "NO_BTF"             // the kernel has no BTF (/sys/kernel/btf/vmlinux)
	NoTracefs         Code = "NO_TRACEFS"         // tracefs is not mounted and mounting it failed
	NoPrivileges      Code = "NO_PRIVILEGES"      // not allowed to load BPF programs or inspect the target
	NotPermitted      Code = "NOT_PERMITTED"      // the helper, run by a user other than root with its capabilities, may not trace that user's target: another user's, set-id, with capabilities
	NoProcess         Code = "NO_PROCESS"         // no such pid, or the program to launch cannot run
	NotGo             Code = "NOT_GO"             // the target is not a Go program
	UnsupportedGo     Code = "UNSUPPORTED_GO"     // built with a Go release outside the supported ones
	UnsupportedArch   Code = "UNSUPPORTED_ARCH"   // built for an architecture the probes do not cover
	UnsupportedBinary Code = "UNSUPPORTED_BINARY" // the file could not be read as a Go executable (malformed ELF headers, build info, .gopclntab or DWARF), or the helper cannot place its probes in it
	NotHTTPServer     Code = "NOT_HTTP_SERVER"    // the target serves neither HTTP with net/http nor gRPC with grpc-go
	Target            Code = "TARGET"             // the target could not be read (its file, its memory map)
	LoadFailed        Code = "LOAD_FAILED"        // the kernel refused the BPF programs
	AttachFailed      Code = "ATTACH_FAILED"      // a probe could not be attached
	ReadFailed        Code = "READ_FAILED"        // reading the probes' events failed mid-trace
	Usage             Code = "USAGE"              // a bad argument
	Internal          Code = "INTERNAL"           // a bug in the helper: please report it
)
