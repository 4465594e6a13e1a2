module outboundlens/bpf

go 1.24.0
