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
	if tlsRecord(b) {
		name, _ := clientHelloServerName(b)
		return &Op{Protocol: "tls", ServerName: name}
	}
	return &Op{Protocol: "tcp"}
}

// tlsRecord: a TLS record header (change_cipher_spec, alert, handshake or
// application_data; SSL 3.0 to TLS 1.3 versions; at most 2^14+2048 bytes).
func tlsRecord(b []byte) bool {
	return len(b) >= 5 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04 &&
		binary.BigEndian.Uint16(b[3:5]) <= 1<<14+2048
}

// clientHelloServerName reads the host name of a ClientHello's
// server_name extension (RFC 6066) from the first bytes of a handshake
// record; ok is false when b is no ClientHello, or the name is not all
// within b, or is no host name.
func clientHelloServerName(b []byte) (string, bool) {
	if !tlsRecord(b) || b[0] != 0x16 || len(b) < 9 || b[5] != 0x01 {
		return "", false
	}
	r := reader(b[9:])
	// legacy_version, random, legacy_session_id, cipher_suites,
	// legacy_compression_methods
	if !r.skip(2+32) || !r.skipVec(1) || !r.skipVec(2) || !r.skipVec(1) {
		return "", false
	}
	exts, ok := r.vec(2)
	if !ok && len(r) > 0 {
		// the probe's bytes end within the extensions: read those there are
		exts, ok = reader(r[min(2, len(r)):]), true
	}
	for ok && len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts)
		var data reader
		exts = exts[2:]
		if data, ok = exts.vec(2); !ok {
			return "", false
		}
		if typ != 0 { // server_name
			continue
		}
		list, ok := data.vec(2)
		for ok && len(list) >= 3 {
			kind := list[0]
			list = list[1:]
			name, got := list.vec(2)
			if !got {
				return "", false
			}
			if kind == 0 && hostName(string(name)) {
				return string(name), true
			}
		}
		return "", false
	}
	return "", false
}

// reader reads a TLS message's fields, each bounds-checked.
type reader []byte

func (r *reader) skip(n int) bool {
	if n > len(*r) {
		return false
	}
	*r = (*r)[n:]
	return true
}

// vec reads a vector with an n-byte big-endian length (n is 1 or 2).
func (r *reader) vec(n int) (reader, bool) {
	if len(*r) < n {
		return nil, false
	}
	l := int((*r)[0])
	if n == 2 {
		l = int(binary.BigEndian.Uint16(*r))
	}
	if n+l > len(*r) {
		return nil, false
	}
	v := (*r)[n : n+l]
	*r = (*r)[n+l:]
	return v, true
}

func (r *reader) skipVec(n int) bool {
	_, ok := r.vec(n)
	return ok
}

// hostName: a DNS name as SNI carries it (letters, digits, '-', '_', '.';
// at most 253 bytes; no IP literal, which SNI may not carry).
func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
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
