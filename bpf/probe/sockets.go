package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// OpenConn is a connection a process has open: its socket's inode and the
// process's file descriptors for it.
type OpenConn struct {
	Inode uint64
	FDs   []int
}

// OpenOutbound lists the TCP connections process pid has open and did not
// accept: connected sockets whose local port is none of the process's
// listening ports. Read from /proc when a trace starts, so the connections
// a service opened before it (database and cache pools, kept-alive HTTP
// connections) are seen at their next use.
func OpenOutbound(pid int) ([]OpenConn, error) {
	own, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var socks []procSocket
	for _, name := range []string{"tcp", "tcp6"} {
		s, err := readProcNetTCP(filepath.Join("/proc", strconv.Itoa(pid), "net", name))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		socks = append(socks, s...)
	}
	listening := map[uint16]bool{}
	for _, s := range socks {
		if s.state == tcpListen && own[s.inode] != nil {
			listening[s.localPort] = true
		}
	}
	var out []OpenConn
	seen := map[uint64]bool{}
	for _, s := range socks {
		if s.state != tcpEstablished || own[s.inode] == nil || listening[s.localPort] || seen[s.inode] {
			continue
		}
		seen[s.inode] = true
		out = append(out, OpenConn{Inode: s.inode, FDs: own[s.inode]})
	}
	return out, nil
}

// TrackConnections makes the probes report every use of these connections.
func (p *Probe) TrackConnections(conns []OpenConn) error {
	for _, c := range conns {
		st := probeConnState{Flags: uint32(probeConnFlagCONN_PREEXISTING)}
		// NoExist: a connection the probes saw already is known better.
		if err := p.objs.OutboundConns.Update(c.Inode, st, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("tracking socket %d: %w", c.Inode, err)
		}
		for _, fd := range c.FDs {
			// Past the filter's last fd every write is checked.
			if fd >= 0 && uint32(fd) < p.objs.OutboundFds.MaxEntries() {
				if err := p.objs.OutboundFds.Update(uint32(fd), uint8(1), ebpf.UpdateAny); err != nil {
					return fmt.Errorf("tracking fd %d: %w", fd, err)
				}
			}
		}
	}
	return nil
}

const (
	tcpEstablished = 0x01
	tcpListen      = 0x0A
)

type procSocket struct {
	localPort uint16
	state     int
	inode     uint64
}

// socketInodes returns the inodes of the sockets among pid's open files,
// each with its file descriptors.
func socketInodes(pid int) (map[uint64][]int, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	out := map[uint64][]int{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[n] = append(out[n], fd)
			}
		}
	}
	return out, nil
}

// readProcNetTCP parses /proc/PID/net/tcp{,6}:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//	0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12345 ...
func readProcNetTCP(path string) ([]procSocket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []procSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		_, portHex, ok := strings.Cut(fs[1], ":")
		if !ok {
			continue
		}
		port, err1 := strconv.ParseUint(portHex, 16, 16)
		st, err2 := strconv.ParseUint(fs[3], 16, 8)
		ino, err3 := strconv.ParseUint(fs[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || ino == 0 {
			continue
		}
		out = append(out, procSocket{localPort: uint16(port), state: int(st), inode: ino})
	}
	return out, sc.Err()
}
