package probe

import (
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
)

// OpenOutbound lists the connection this process dialed, and neither its
// listener nor the connection that listener accepted.
func TestOpenOutbound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in := <-accepted
	defer in.Close()

	got, err := OpenOutbound(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want, acc, lis := sockInode(t, out.(*net.TCPConn)), sockInode(t, in.(*net.TCPConn)), sockInode(t, ln.(*net.TCPListener))
	fds := map[uint64][]int{}
	for _, c := range got {
		fds[c.Inode] = c.FDs
	}
	// sockInode's File() dups the socket: its fd is closed again by now.
	if f := sockFD(t, out.(*net.TCPConn)); !slices.Contains(fds[want], f) {
		t.Errorf("the dialed connection (inode %d, fd %d) is missing from %+v", want, f, got)
	}
	if fds[acc] != nil || fds[lis] != nil {
		t.Errorf("an accepted connection (%d) or the listener (%d) is listed: %+v", acc, lis, got)
	}
}

// sockInode is the inode of a socket's file, as /proc/PID/fd names it.
func sockInode(t *testing.T, c interface {
	File() (*os.File, error)
}) uint64 {
	t.Helper()
	f, err := c.File() // a dup of the same socket
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// sockFD is a connection's own file descriptor.
func sockFD(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}
