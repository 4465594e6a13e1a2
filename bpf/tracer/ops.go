package tracer

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"

	"outboundlens/bpf/records"
)

// Op is what an outbound call or exchange did.
type Op = records.Op

// maxStatement is how much of a statement a record carries.
const maxStatement = 200

// httpOp names an HTTP client call from the request's method and URL.
func httpOp(method, scheme, host, path string, cut bool) *Op {
	return &Op{Protocol: "http", Method: method, Scheme: scheme, Host: host, Path: path, Truncated: cut}
}

// writeOp names an exchange from the first bytes of its first write
// (whole is false when the probe copied fewer bytes than were written).
// Without statements it keeps the verb and the command, not the text nor
// the key.
func writeOp(b []byte, whole, statements bool) *Op {
	op := parseWrite(b, whole)
	if !statements {
		op.Statement, op.Key = "", ""
		op.Truncated = false
	}
	return op
}

func parseWrite(b []byte, whole bool) *Op {
	if op := postgresOp(b, whole); op != nil {
		return op
	}
	if op := mysqlOp(b, whole); op != nil {
		return op
	}
	if op := redisOp(b, whole); op != nil {
		return op
	}
	if op := http1Op(b, whole); op != nil {
		return op
	}
	if len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 {
		return &Op{Protocol: "tls"}
	}
	return &Op{Protocol: "tcp"}
}

// postgresOp reads a frontend message: a simple query ('Q', length,
// text\0) or the Parse that starts an extended query ('P', length,
// statement name\0, text\0); Bind, Execute and Sync of a prepared
// statement name no text. The startup and SSL requests have no type byte.
func postgresOp(b []byte, whole bool) *Op {
	if len(b) < 5 {
		return nil
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if n < 4 || n > 1<<30 || (whole && int(n)+1 > len(b)) {
		return nil
	}
	body := b[5:]
	if int(n)-4 < len(body) {
		body = body[:n-4]
	}
	switch b[0] {
	case 'Q':
	case 'P':
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return nil
		}
		body = body[i+1:]
	case 'B', 'E', 'S', 'D':
		if !whole || !validPostgres(b) {
			return nil
		}
		return &Op{Protocol: "postgresql"}
	default:
		return nil
	}
	text, cut := cString(body)
	if !plausibleSQL(text) {
		return nil
	}
	return sqlOp("postgresql", text, cut)
}

// validPostgres checks that b is whole frontend messages back to back.
func validPostgres(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 5 || !strings.ContainsRune("BEDSHCPQFd", rune(b[0])) {
			return false
		}
		n := binary.BigEndian.Uint32(b[1:5])
		if n < 4 || int(n)+1 > len(b) {
			return false
		}
		b = b[n+1:]
	}
	return true
}

// mysqlOp reads a COM_QUERY packet: 3-byte length, sequence 0, 0x03, text.
func mysqlOp(b []byte, whole bool) *Op {
	if len(b) < 6 || b[3] != 0 || b[4] != 0x03 {
		return nil
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n < 2 || (whole && n+4 != len(b)) {
		return nil
	}
	text := b[5:]
	if n-1 < len(text) {
		text = text[:n-1]
	}
	s, cut := string(text), !whole && n-1 > len(text)
	if !plausibleSQL(s) {
		return nil
	}
	return sqlOp("mysql", s, cut)
}

func sqlOp(protocol, text string, cut bool) *Op {
	op := &Op{Protocol: protocol, Verb: verb(text)}
	if len(text) > maxStatement {
		text, cut = cutUTF8(text, maxStatement), true
	}
	op.Statement, op.Truncated = text, cut
	return op
}

// verb is a statement's first keyword after spaces and comments.
func verb(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			end := 0
			for end < len(s) && (s[end] >= 'A' && s[end] <= 'Z' || s[end] >= 'a' && s[end] <= 'z') {
				end++
			}
			return strings.ToUpper(s[:end])
		}
	}
}

// plausibleSQL: text, starting with a keyword.
func plausibleSQL(s string) bool {
	return verb(s) != "" && !strings.ContainsRune(s, 0)
}

// redisOp reads a RESP array of bulk strings: *N\r\n$L\r\nCMD\r\n$L\r\nKEY\r\n.
func redisOp(b []byte, whole bool) *Op {
	if len(b) < 4 || b[0] != '*' {
		return nil
	}
	rest := b[1:]
	n, rest, ok := respInt(rest)
	if !ok || n < 1 {
		return nil
	}
	var args []string
	cut := false
	for i := 0; i < n && i < 2; i++ {
		if len(rest) == 0 || rest[0] != '$' {
			if len(rest) == 0 && !whole {
				cut = true
				break
			}
			return nil
		}
		l, r, ok := respInt(rest[1:])
		if !ok || l < 0 {
			if !whole {
				cut = true
				break
			}
			return nil
		}
		if len(r) < l+2 {
			if whole {
				return nil
			}
			args, cut = append(args, string(r)), true
			break
		}
		args = append(args, string(r[:l]))
		rest = r[l+2:]
	}
	if len(args) == 0 || !isWord(args[0]) {
		return nil
	}
	op := &Op{Protocol: "redis", Command: strings.ToUpper(args[0])}
	if len(args) > 1 {
		op.Key, op.Truncated = args[1], cut
	}
	return op
}

// respInt reads digits up to \r\n.
func respInt(b []byte) (int, []byte, bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 || i > 10 {
		return 0, nil, false
	}
	n, err := strconv.Atoi(string(b[:i]))
	return n, b[i+2:], err == nil
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == '.' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"}

// http1Op reads an HTTP/1 request line and its Host header, from a client
// other than net/http's (whose calls are reported at the round trip).
func http1Op(b []byte, whole bool) *Op {
	line, rest, found := bytes.Cut(b, []byte("\r\n"))
	if !found {
		return nil
	}
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil
	}
	method := parts[0]
	known := false
	for _, m := range httpMethods {
		known = known || m == method
	}
	if !known {
		return nil
	}
	path, _, _ := strings.Cut(parts[1], "?")
	op := &Op{Protocol: "http", Method: method, Path: path}
	for _, h := range strings.Split(string(rest), "\r\n") {
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "host") {
			op.Host = strings.TrimSpace(v)
			break
		}
	}
	return op
}

// cString is the text up to a NUL; cut when no NUL came within b.
func cString(b []byte) (string, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i]), false
	}
	return string(b), true
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
