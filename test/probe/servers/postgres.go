package servers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Postgres is a running PostgreSQL server: superuser postgres, trust
// authentication, database postgres, TCP on 127.0.0.1 and a Unix socket in
// its directory; every statement is logged with the client's host(port).
type Postgres struct {
	Addr      string // 127.0.0.1:port
	Port      int
	DSN       string // postgres://postgres@127.0.0.1:port/postgres?sslmode=disable
	Dir       string // the temporary directory: data/, the socket, postgres.log
	SocketDir string // where the Unix socket is (.s.PGSQL.<port>)
	LogFile   string // the server's log: a statement a line (see ParsePostgresLog)

	proc     *process
	stopOnce sync.Once
	stopErr  error
	final    []Statement // the log, parsed when the server stopped
}

// pgLinePrefix is the log_line_prefix: a timestamp with milliseconds, the
// backend's pid, and the client as %r writes it, 127.0.0.1(54321).
const pgLinePrefix = "%m [%p] <%r> "

// StartPostgres runs initdb and postgres (as nobody when root) in a fresh
// temporary directory, on 127.0.0.1:port (0: a free port), and returns once
// it accepts connections. Stop stops it and removes the directory.
func StartPostgres(port int) (*Postgres, error) {
	bin, err := PostgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("ol-postgres-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, SocketDir: dir, LogFile: filepath.Join(dir, "postgres.log")}
	if err := p.start(bin, port); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *Postgres) start(bin string, port int) error {
	data := filepath.Join(p.Dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + p.Dir}
	unprivileged(initdb, syscall.SIGKILL)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A port picked free may be taken before postgres binds it: try again.
	for attempt := 0; ; attempt++ {
		if port == 0 || attempt > 0 {
			var err error
			if port, err = freePort(); err != nil {
				return err
			}
		}
		err := p.run(bin, data, port)
		if err == nil {
			return nil
		}
		log, _ := os.ReadFile(p.LogFile)
		if attempt < 2 && strings.Contains(string(log), "Address already in use") {
			continue
		}
		return fmt.Errorf("%v\n%s", err, log)
	}
}

func (p *Postgres) run(bin, data string, port int) error {
	logf, err := os.Create(p.LogFile)
	if err != nil {
		return err
	}
	defer logf.Close() // the server has its own copy
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+p.SocketDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
		"-c", "log_timezone=UTC",
		"-c", "log_line_prefix="+pgLinePrefix,
		"-c", "log_statement=all",
		"-c", "log_connections=on",
		"-c", "log_disconnections=on",
	)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + p.Dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server's children notice the postmaster's death and exit.
	unprivileged(cmd, syscall.SIGQUIT)
	proc, err := startProcess(cmd)
	if err != nil {
		return err
	}
	err = proc.waitUntil("accepting connections", 60*time.Second, func() bool {
		log, _ := os.ReadFile(p.LogFile)
		if !strings.Contains(string(log), "database system is ready to accept connections") {
			return false
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if err != nil {
		proc.stop(syscall.SIGQUIT, 5*time.Second)
		return err
	}
	p.proc = proc
	p.Port = port
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p.DSN = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", p.Addr)
	return nil
}

// PID is the postmaster's process id.
func (p *Postgres) PID() int { return p.proc.cmd.Process.Pid }

// Statements is every statement the server has logged so far (after Stop:
// every one it logged), in order.
func (p *Postgres) Statements() ([]Statement, error) {
	if p.proc.hasExited() && p.final != nil {
		return p.final, nil
	}
	log, err := os.ReadFile(p.LogFile)
	if err != nil {
		return nil, err
	}
	// Up to the last whole line: a backend may be writing the next one.
	log = log[:bytes.LastIndexByte(log, '\n')+1]
	return ParsePostgresLog(bytes.NewReader(log))
}

// Stop shuts the server down (fast shutdown: SIGINT; killed after 20 s),
// keeps its statements for Statements, and removes its directory.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() {
		p.stopErr = p.proc.stop(syscall.SIGINT, 20*time.Second)
		if st, err := p.Statements(); err == nil {
			p.final = append([]Statement{}, st...)
		} else if p.stopErr == nil {
			p.stopErr = err
		}
		if err := os.RemoveAll(p.Dir); err != nil && p.stopErr == nil {
			p.stopErr = err
		}
	})
	return p.stopErr
}

// Statement is one SQL statement as PostgreSQL logged it, with the client
// it came from.
type Statement struct {
	At     time.Time `json:"at"`
	PID    int       `json:"pid"`    // the backend's process id
	Client string    `json:"client"` // as %r logs it: 127.0.0.1(54321), [local]
	Host   string    `json:"host"`   // 127.0.0.1
	Port   int       `json:"port"`   // the client's TCP port; 0 on the Unix socket
	Text   string    `json:"statement"`
}

var (
	pgLine    = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+) \[(\d+)\] <([^>]*)> (\w+):  (.*)$`)
	pgClient  = regexp.MustCompile(`^(.*)\((\d+)\)$`)
	pgExecute = regexp.MustCompile(`^execute [^:]*: `)
)

// ParsePostgresLog reads a log written with log_line_prefix pgLinePrefix
// and log_statement=all: the simple protocol's "statement: …" and the
// extended protocol's "execute <name>: …" lines, with their continuation
// lines (a statement over several lines, each after a tab).
func ParsePostgresLog(r io.Reader) ([]Statement, error) {
	var out []Statement
	inStatement := false
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 16<<20)
	for s.Scan() {
		line := s.Text()
		m := pgLine.FindStringSubmatch(line)
		if m == nil {
			// PostgreSQL writes a statement's later lines after a tab.
			if inStatement && strings.HasPrefix(line, "\t") {
				out[len(out)-1].Text += "\n" + line[1:]
			} else {
				inStatement = false
			}
			continue
		}
		inStatement = false
		level, msg := m[4], m[5]
		var text string
		switch {
		case level != "LOG":
			continue
		case strings.HasPrefix(msg, "statement: "):
			text = strings.TrimPrefix(msg, "statement: ")
		case pgExecute.MatchString(msg):
			text = pgExecute.ReplaceAllString(msg, "")
		default:
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05.000 MST", m[1])
		if err != nil {
			return nil, fmt.Errorf("postgres log: %q: %v", line, err)
		}
		pid, _ := strconv.Atoi(m[2])
		st := Statement{At: at, PID: pid, Client: m[3], Host: m[3], Text: text}
		if c := pgClient.FindStringSubmatch(m[3]); c != nil {
			st.Host = c[1]
			st.Port, _ = strconv.Atoi(c[2])
		}
		out = append(out, st)
		inStatement = true
	}
	return out, s.Err()
}
