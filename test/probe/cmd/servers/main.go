// Command servers starts throwaway PostgreSQL and Redis servers on
// 127.0.0.1 (package servers: as nobody when root, in temporary
// directories), prints one JSON line when they accept connections, and stops
// them and removes their directories on SIGTERM, SIGINT, or the end of its
// standard input when that is a pipe or a socket.
//
//	go run ./cmd/servers [-postgres=false] [-redis=false] [-pg-port N] [-redis-port N] [-truth] [-for test]
//
// The line:
//
//	{"type":"ready","postgres":{"dsn":"postgres://postgres@127.0.0.1:P/postgres?sslmode=disable","addr":"127.0.0.1:P","port":P,"socketDir":"/tmp/ol-postgres-…","log":"/tmp/ol-postgres-…/postgres.log","pid":N},"redis":{"addr":"127.0.0.1:P","port":P,"pid":N}}
//
// With -truth, a Redis MONITOR collects every command, and on the way out
// one line per statement PostgreSQL logged and per command Redis ran is
// printed before the last line, {"type":"stopped"}:
//
//	{"type":"postgres","at":"…","pid":N,"client":"127.0.0.1(54321)","host":"127.0.0.1","port":54321,"statement":"SELECT 'ol-req-7'"}
//	{"type":"redis","at":"…","db":0,"client":"127.0.0.1:54322","host":"127.0.0.1","port":54322,"command":"GET","args":["ol-req-7"],"key":"ol-req-7"}
//
// Diagnostics go to stderr. A missing server is installed with
// `node scripts/prereqs.mjs --for <-for>` (as root), or named in one line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"outboundlens/test/probe/servers"
)

type pgInfo struct {
	DSN       string `json:"dsn"`
	Addr      string `json:"addr"`
	Port      int    `json:"port"`
	SocketDir string `json:"socketDir"`
	Log       string `json:"log"`
	PID       int    `json:"pid"`
}

type redisInfo struct {
	Addr string `json:"addr"`
	Port int    `json:"port"`
	PID  int    `json:"pid"`
}

type ready struct {
	Type     string     `json:"type"`
	Postgres *pgInfo    `json:"postgres,omitempty"`
	Redis    *redisInfo `json:"redis,omitempty"`
}

func main() {
	withPG := flag.Bool("postgres", true, "start PostgreSQL")
	withRedis := flag.Bool("redis", true, "start Redis")
	pgPort := flag.Int("pg-port", 0, "PostgreSQL's TCP port (0: a free one)")
	redisPort := flag.Int("redis-port", 0, "Redis's TCP port (0: a free one)")
	truth := flag.Bool("truth", false, "collect every statement and command and print them when stopping")
	forCmd := flag.String("for", "test", "the npm command whose packages scripts/prereqs.mjs installs when a server is missing")
	flag.Parse()
	if err := run(*withPG, *withRedis, *pgPort, *redisPort, *truth, *forCmd); err != nil {
		fmt.Fprintf(os.Stderr, "servers: %v\n", err)
		os.Exit(1)
	}
}

func run(withPG, withRedis bool, pgPort, redisPort int, truth bool, forCmd string) (err error) {
	// Stop on a signal from now on, also while the servers start.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := servers.Ensure(forCmd); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)
	r := ready{Type: "ready"}
	var pg *servers.Postgres
	var rd *servers.Redis
	var mon *servers.Monitor
	defer func() {
		if mon != nil {
			if e := mon.Sync(5 * time.Second); e != nil && err == nil {
				err = e
			}
		}
		if rd != nil {
			if e := rd.Stop(); e != nil && err == nil {
				err = e
			}
		}
		if pg != nil {
			if e := pg.Stop(); e != nil && err == nil {
				err = e
			}
		}
		if truth && err == nil {
			err = printTruth(out, pg, mon)
		}
		out.Encode(map[string]string{"type": "stopped"})
	}()
	if withPG {
		if pg, err = servers.StartPostgres(pgPort); err != nil {
			return err
		}
		r.Postgres = &pgInfo{DSN: pg.DSN, Addr: pg.Addr, Port: pg.Port, SocketDir: pg.SocketDir, Log: pg.LogFile, PID: pg.PID()}
	}
	if withRedis {
		if rd, err = servers.StartRedis(redisPort); err != nil {
			return err
		}
		r.Redis = &redisInfo{Addr: rd.Addr, Port: rd.Port, PID: rd.PID()}
		if truth {
			if mon, err = rd.Monitor(); err != nil {
				return err
			}
		}
	}
	if err := out.Encode(r); err != nil {
		return err
	}
	eof := make(chan struct{})
	// A pipe or a socket (Node's 'pipe'); not a terminal, nor /dev/null.
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
	}
	select {
	case s := <-stop:
		fmt.Fprintf(os.Stderr, "servers: %v: stopping\n", s)
	case <-eof:
		fmt.Fprintln(os.Stderr, "servers: standard input closed: stopping")
	}
	return nil
}

// printTruth writes what each server saw, one JSON line each.
func printTruth(out *json.Encoder, pg *servers.Postgres, mon *servers.Monitor) error {
	type pgLine struct {
		Type string `json:"type"`
		servers.Statement
	}
	type redisLine struct {
		Type string `json:"type"`
		servers.Command
	}
	if pg != nil {
		sts, err := pg.Statements()
		if err != nil {
			return err
		}
		for _, s := range sts {
			out.Encode(pgLine{"postgres", s})
		}
	}
	if mon != nil {
		for _, c := range mon.Commands() {
			out.Encode(redisLine{"redis", c})
		}
	}
	return nil
}
