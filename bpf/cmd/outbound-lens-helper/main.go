// Command outbound-lens-helper attaches Outbound Lens' probes to a Go
// service and streams which inbound request opened or used which outbound
// TCP connection. It is also the extension's unprivileged helper for
// listing Go processes and Gin routes.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  outbound-lens-helper trace --pid PID [options]
  outbound-lens-helper trace [options] -- /path/to/binary [args...]
  outbound-lens-helper routes [--dir DIR]
  outbound-lens-helper ps [--module MODULE]
  outbound-lens-helper check
  outbound-lens-helper sites BINARY      where the probes would go, and how the kernel handles each

trace options:
  --format text|ndjson   output format (default text)
  --header NAME          capture this request header (repeatable; traceparent always)
  --duration D           stop after D (e.g. 30s); default: until interrupted
  --connect SOCKET       stream records to this Unix socket instead of stdout
  --token TOKEN          sent first on --connect, to prove who is connecting
  --cwd DIR              launch: run the binary in DIR
  --env NAME=VALUE       launch: add to the binary's environment (repeatable)
  --env-file FILE        launch: add its NAME=VALUE lines (kept out of the process list)
  --probe-stats          count each probe's runs and time in BPF, in stats records (costs a little)
  --no-statements        name a database statement's verb and a Redis command, not the statement's text or the key
  --empty-programs       attach every probe with a program that returns at once: records nothing; measures
                         what the probe hits alone cost the service (npm run bench)
`

func main() {
	args := os.Args[1:]
	cmd := "trace"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var code int
	switch cmd {
	case "trace":
		code = runTrace(args)
	case "routes":
		code = runRoutes(args)
	case "ps":
		code = runPs(args)
	case "check":
		code = runCheck(args)
	case "sites":
		code = runSites(args)
	case "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		code = 2
	}
	os.Exit(code)
}
