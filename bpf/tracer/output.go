package tracer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Output writes records in one format. Safe for concurrent use.
type Output struct {
	mu   sync.Mutex
	w    *bufio.Writer
	enc  *json.Encoder
	text bool
}

// jsonAppender is what the records' generated AppendJSON gives: the bytes
// encoding/json would write, without its reflection.
type jsonAppender interface{ AppendJSON([]byte) []byte }

// minAvailable is the room a record is appended in, more than most
// records take; a longer one is copied in.
const minAvailable = 4 << 10

func NewOutput(w io.Writer, format string) (*Output, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	o := &Output{w: bw, enc: json.NewEncoder(bw)}
	o.enc.SetEscapeHTML(false)
	switch format {
	case "ndjson", "json":
	case "text":
		o.text = true
	default:
		return nil, fmt.Errorf("unknown --format %q: use text or ndjson", format)
	}
	return o, nil
}

// Record writes one record. In text format only outbound records print,
// as the field report's line shape; the path is the request's.
func (o *Output) Record(r any, path, method string) {
	// Unlocked without a defer: this runs for every record, and nothing
	// in record recovers from a panic.
	o.mu.Lock()
	o.record(r, path, method)
	o.mu.Unlock()
}

func (o *Output) record(r any, path, method string) {
	if !o.text {
		if a, ok := r.(jsonAppender); ok {
			// Appended in the writer's own buffer (flushed first when
			// nearly full): Write then copies nothing.
			if o.w.Available() < minAvailable {
				o.w.Flush()
			}
			o.w.Write(append(a.AppendJSON(o.w.AvailableBuffer()), '\n'))
			return
		}
		o.enc.Encode(r)
		return
	}
	ob, ok := r.(*Outbound)
	if !ok {
		return
	}
	if path == "" {
		path = "-"
	}
	if method == "" {
		method = "-"
	}
	state := "new"
	if ob.Reused {
		state = "reused"
	}
	site := "-"
	if ob.CallSite != nil {
		site = fmt.Sprintf("%s:%d", filepath.Base(ob.CallSite.File), ob.CallSite.Line)
	}
	fmt.Fprintf(o.w, "%s  %s  pid %d  caller_tuple  %s %s -> %s  %s  %s\n",
		printable(path), printable(method), ob.PID, ob.Proto, hostPort(ob.Src, ob.Sport), hostPort(ob.Dst, ob.Dport), state, site)
}

// Flush pushes buffered records out; called when the ring buffer is drained.
func (o *Output) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Flush()
}

// printable quotes a string that holds control characters or invalid
// UTF-8: a request path must not drive the terminal the text goes to.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func hostPort(ip string, port int) string {
	for i := 0; i < len(ip); i++ {
		if ip[i] == ':' {
			return fmt.Sprintf("[%s]:%d", ip, port)
		}
	}
	return fmt.Sprintf("%s:%d", ip, port)
}
