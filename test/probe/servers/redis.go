package servers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Redis is a running redis-server on 127.0.0.1 without persistence.
type Redis struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // the temporary directory (its working directory)

	proc     *process
	out      *LockedBuffer // what the server printed
	stopOnce sync.Once
	stopErr  error
}

// StartRedis runs redis-server (as nobody when root) in a fresh temporary
// directory on 127.0.0.1:port (0: a free port), with no snapshots and no
// append-only file, and returns once it answers PING. Stop stops it and
// removes the directory.
func StartRedis(port int) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("no redis-server on PATH")
	}
	dir, err := tempDir("ol-redis-")
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if port == 0 || attempt > 0 {
			if port, err = freePort(); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
		r := &Redis{Dir: dir, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), out: &LockedBuffer{}}
		err = r.run(bin)
		if err == nil {
			return r, nil
		}
		if attempt < 2 && strings.Contains(r.out.String(), "Address already in use") {
			continue
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%v\n%s", err, r.out.String())
	}
}

func (r *Redis) run(bin string) error {
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.Port),
		"--dir", r.Dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
		"--protected-mode", "no",
	)
	cmd.Dir = r.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + r.Dir}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	unprivileged(cmd, syscall.SIGKILL)
	proc, err := startProcess(cmd)
	if err != nil {
		return err
	}
	err = proc.waitUntil("answering PING", 30*time.Second, func() bool {
		reply, err := r.Do("PING")
		return err == nil && reply == "PONG"
	})
	if err != nil {
		proc.stop(syscall.SIGKILL, 5*time.Second)
		return err
	}
	r.proc = proc
	return nil
}

// PID is the server's process id.
func (r *Redis) PID() int { return r.proc.cmd.Process.Pid }

// Stop shuts the server down (SIGTERM; killed after 10 s) and removes its
// directory. A Monitor of it sees its connection close.
func (r *Redis) Stop() error {
	r.stopOnce.Do(func() {
		r.stopErr = r.proc.stop(syscall.SIGTERM, 10*time.Second)
		if err := os.RemoveAll(r.Dir); err != nil && r.stopErr == nil {
			r.stopErr = err
		}
	})
	return r.stopErr
}

// Do sends one command on a connection of its own and returns the reply
// when it is a simple string or a bulk string.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(encode(args)); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	default:
		return "", fmt.Errorf("redis %s: %s", args[0], line)
	}
}

// encode writes a command as a RESP array of bulk strings.
func encode(args []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

// Command is one command a Redis client sent, as MONITOR reported it.
type Command struct {
	At     time.Time `json:"at"`
	DB     int       `json:"db"`
	Client string    `json:"client"` // 127.0.0.1:54321, or lua, unix:/path
	Host   string    `json:"host"`   // 127.0.0.1
	Port   int       `json:"port"`   // the client's TCP port; 0 when not TCP
	Name   string    `json:"command"`
	Args   []string  `json:"args"`
	Key    string    `json:"key"` // the first argument (the key, for a key's command)
}

// Monitor is a MONITOR connection collecting every command the server runs
// from then on, except its own Sync markers.
type Monitor struct {
	r       *Redis
	conn    net.Conn
	mu      sync.Mutex
	cmds    []Command
	markers map[string]bool // Sync's markers: false until MONITOR reports one
	err     error           // the first line that did not parse, or why the connection ended
	ended   chan struct{}
}

// Monitor opens a MONITOR connection and returns once the server confirmed it.
func (r *Redis) Monitor() (*Monitor, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(encode([]string{"MONITOR"})); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
		c.Close()
		return nil, fmt.Errorf("MONITOR: %q %v", line, err)
	}
	c.SetDeadline(time.Time{})
	m := &Monitor{r: r, conn: c, markers: map[string]bool{}, ended: make(chan struct{})}
	go m.read(br)
	return m, nil
}

func (m *Monitor) read(br *bufio.Reader) {
	defer close(m.ended)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			m.mu.Lock()
			if m.err == nil {
				m.err = err
			}
			m.mu.Unlock()
			return
		}
		cmd, err := ParseMonitorLine(strings.TrimSuffix(line, "\r\n"))
		m.mu.Lock()
		if err != nil {
			if m.err == nil {
				m.err = err
			}
		} else if _, ok := m.markers[cmd.Key]; ok && cmd.Name == "ECHO" {
			m.markers[cmd.Key] = true
		} else {
			m.cmds = append(m.cmds, cmd)
		}
		m.mu.Unlock()
	}
}

// Commands is every command seen so far, in the order the server ran them.
func (m *Monitor) Commands() []Command {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Command(nil), m.cmds...)
}

// Err is the first error: a line MONITOR sent that did not parse, or why
// the connection ended (io.EOF when the server stopped); nil until then.
func (m *Monitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Sync returns once every command the server ran before the call is in
// Commands: it sends a marker (ECHO) and waits for MONITOR to report it,
// since the server reports commands to MONITOR in the order it runs them.
func (m *Monitor) Sync(timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", m.r.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	marker := fmt.Sprintf("ol-sync-%d", time.Now().UnixNano())
	m.mu.Lock()
	m.markers[marker] = false
	m.mu.Unlock()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(encode([]string{"ECHO", marker})); err != nil {
		return err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return err
	}
	// The marker itself is left out of Commands; read notes it was seen.
	deadline := time.Now().Add(timeout)
	for {
		m.mu.Lock()
		seen := m.markers[marker]
		m.mu.Unlock()
		if seen {
			return nil
		}
		select {
		case <-m.ended:
			return fmt.Errorf("MONITOR connection ended: %v", m.Err())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MONITOR did not report the sync marker within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close ends the MONITOR connection.
func (m *Monitor) Close() error {
	err := m.conn.Close()
	<-m.ended
	return err
}

// ParseMonitorLine reads one MONITOR line:
//
//	+1733195000.123456 [0 127.0.0.1:54321] "GET" "ol-req-7"
//
// Arguments are quoted as Redis quotes them (\", \\, \n, \r, \t, \a, \b, \xHH).
func ParseMonitorLine(line string) (Command, error) {
	bad := func(why string) (Command, error) { return Command{}, fmt.Errorf("MONITOR line %q: %s", line, why) }
	line = strings.TrimPrefix(line, "+")
	ts, rest, ok := strings.Cut(line, " [")
	if !ok {
		return bad("no [db client]")
	}
	who, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		return bad("no [db client]")
	}
	var c Command
	sec, frac, _ := strings.Cut(ts, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	if err1 != nil || err2 != nil {
		return bad("bad time")
	}
	c.At = time.Unix(s, us*1000).UTC()
	db, client, _ := strings.Cut(who, " ")
	var err error
	if c.DB, err = strconv.Atoi(db); err != nil {
		return bad("bad db")
	}
	c.Client, c.Host = client, client
	if h, p, err := net.SplitHostPort(client); err == nil && !strings.HasPrefix(client, "unix:") {
		c.Host = h
		c.Port, _ = strconv.Atoi(p)
	}
	args, err := unquoteArgs(rest)
	if err != nil || len(args) == 0 {
		return bad(fmt.Sprint("arguments: ", err))
	}
	c.Name = strings.ToUpper(args[0])
	c.Args = args[1:]
	if len(c.Args) > 0 {
		c.Key = c.Args[0]
	}
	return c, nil
}

// unquoteArgs splits `"a" "b\x00"` into its strings.
func unquoteArgs(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		if s[i] != '"' {
			return nil, fmt.Errorf("expected a quote at %d", i)
		}
		i++
		var b []byte
		for {
			if i >= len(s) {
				return nil, errors.New("unterminated quote")
			}
			ch := s[i]
			if ch == '"' {
				i++
				break
			}
			if ch != '\\' {
				b = append(b, ch)
				i++
				continue
			}
			if i+1 >= len(s) {
				return nil, errors.New("dangling backslash")
			}
			switch e := s[i+1]; e {
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'a':
				b = append(b, '\a')
			case 'b':
				b = append(b, '\b')
			case 'x':
				if i+3 >= len(s) {
					return nil, errors.New("short \\x escape")
				}
				v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
				if err != nil {
					return nil, err
				}
				b = append(b, byte(v))
				i += 2
			default: // \" \\ and anything else stands for itself
				b = append(b, e)
			}
			i += 2
		}
		out = append(out, string(b))
	}
	return out, nil
}

// LockedBuffer collects a process's output, written and read from
// different goroutines (the tests' processes use it too).
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
