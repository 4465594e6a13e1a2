module outboundlens/bpf

go 1.26.0

require (
	github.com/cilium/ebpf v0.20.0 // indirect
	golang.org/x/arch v0.32.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
