// Package probe holds the BPF programs and loads them into the kernel.
package probe

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type event_type -type event_header -type request_start -type route -type request_ended -type outbound -type conn_state -type conn_flag -type op_layout -type call -type call_end -type grpc_impl -type lru_count -type go_abi -type site_cookie probe c/probe.bpf.c
