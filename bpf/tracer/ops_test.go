package tracer

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
)

func pgMsg(typ byte, body string) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func mysqlQuery(q string) []byte {
	n := len(q) + 1
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0, 0x03}, q...)
}

func TestWriteOps(t *testing.T) {
	long := "SELECT " + strings.Repeat("x, ", 100) + "1"
	for _, c := range []struct {
		name  string
		b     []byte
		whole bool
		want  Op
	}{
		{"postgres simple", pgMsg('Q', "SELECT 'ol-req-7'\x00"), true, Op{Protocol: "postgresql", Verb: "SELECT", Statement: "SELECT 'ol-req-7'"}},
		{"postgres extended", append(append(pgMsg('P', "\x00  /* hi */ update users set a=$1\x00\x00\x00"), pgMsg('B', "\x00\x00\x00\x00\x00\x00")...), pgMsg('S', "")...), true,
			Op{Protocol: "postgresql", Verb: "UPDATE", Statement: "  /* hi */ update users set a=$1"}},
		{"postgres prepared", append(pgMsg('B', "\x00s1\x00\x00\x00\x00\x00\x00\x00"), pgMsg('E', "\x00\x00\x00\x00\x00")...), true, Op{Protocol: "postgresql"}},
		{"postgres long", pgMsg('Q', long+"\x00")[:256], false, Op{Protocol: "postgresql", Verb: "SELECT", Statement: (long + "\x00")[:200], Truncated: true}},
		{"mysql", mysqlQuery("-- c\ninsert into t values (1)"), true, Op{Protocol: "mysql", Verb: "INSERT", Statement: "-- c\ninsert into t values (1)"}},
		{"redis", []byte("*2\r\n$3\r\nget\r\n$9\r\nol-req-7\r\n"), true, Op{Protocol: "redis", Command: "GET"}},
		{"redis key", []byte("*2\r\n$3\r\nGET\r\n$8\r\nol-req-7\r\n"), true, Op{Protocol: "redis", Command: "GET", Key: "ol-req-7"}},
		{"redis pipeline", []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*4\r\n$6\r\nCLIENT\r\n"), true, Op{Protocol: "redis", Command: "HELLO", Key: "3"}},
		{"redis cut key", []byte("*2\r\n$3\r\nSET\r\n$300\r\nabc"), false, Op{Protocol: "redis", Command: "SET", Key: "abc", Truncated: true}},
		{"http1", []byte("POST /v1/charges?amount=5 HTTP/1.1\r\nHost: api.stripe.com\r\nAuthorization: Bearer x\r\n\r\n"), true, Op{Protocol: "http", Method: "POST", Host: "api.stripe.com", Path: "/v1/charges"}},
		{"tls", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, true, Op{Protocol: "tls"}},
		{"other", []byte("hello\n"), true, Op{Protocol: "tcp"}},
		{"empty", nil, true, Op{Protocol: "tcp"}},
		{"binary junk", []byte{'Q', 0xff, 0xff, 0xff, 0xff, 'S'}, false, Op{Protocol: "tcp"}},
	} {
		// The redis case with a wrong length is not a command: it falls through.
		got := *writeOp(c.b, c.whole, true)
		if c.name == "redis" {
			if got.Protocol == "redis" && got.Key == "ol-req-7" {
				t.Errorf("%s: a bulk string of the wrong length was taken: %+v", c.name, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if strings.Contains(got.Statement+got.Key+got.Path+got.Host, "Bearer") {
			t.Errorf("%s: a header value leaked: %+v", c.name, got)
		}
	}
}

// Without statements, the verb and the command stay; the text and the key go.
func TestWriteOpsWithoutStatements(t *testing.T) {
	pg := writeOp(pgMsg('Q', "SELECT secret FROM t\x00")[:32], false, false)
	rd := writeOp([]byte("*2\r\n$3\r\nGET\r\n$6\r\nsecret\r\n"), true, false)
	if *pg != (Op{Protocol: "postgresql", Verb: "SELECT"}) || *rd != (Op{Protocol: "redis", Command: "GET"}) {
		t.Errorf("got %+v and %+v", pg, rd)
	}
	b, _ := json.Marshal([]*Op{pg, rd})
	if strings.Contains(string(b), "secret") {
		t.Errorf("text leaked: %s", b)
	}
}

// Whatever the bytes, parsing never panics and the record is valid JSON.
func FuzzWriteOp(f *testing.F) {
	f.Add(pgMsg('Q', "SELECT 1\x00"), true)
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), true)
	f.Add(mysqlQuery("SELECT \xff\xfe"), false)
	hello := clientHello(f, "api.test")
	f.Add(hello[:256], false)
	f.Add(hello[:120], false)
	f.Add(hello, true)
	f.Fuzz(func(t *testing.T, b []byte, whole bool) {
		op := writeOp(b, whole, true)
		if _, err := json.Marshal(op); err != nil {
			t.Fatal(err)
		}
		if op.ServerName != "" && (op.Protocol != "tls" || !hostName(op.ServerName) || !bytes.Contains(b, []byte(op.ServerName))) {
			t.Fatalf("server name %q from % x", op.ServerName, b)
		}
		if len(op.Statement) > maxStatement {
			t.Fatalf("statement of %d bytes", len(op.Statement))
		}
	})
}

// clientHello is the first write of a real crypto/tls client that asks
// for serverName (no server answers; the write is all that is kept).
func clientHello(tb testing.TB, serverName string) []byte {
	tb.Helper()
	c, s := net.Pipe()
	defer c.Close()
	go tls.Client(c, &tls.Config{ServerName: serverName}).Handshake()
	b := make([]byte, 1<<16)
	n, err := s.Read(b)
	s.Close()
	if err != nil {
		tb.Fatal(err)
	}
	return b[:n]
}

// A Go ClientHello's server name is read from the first 256 bytes the
// probe copies (Go puts server_name first among its extensions), not from
// fewer bytes than reach it; with or without statements (a host name is
// no statement); an IP address is sent without one.
func TestClientHelloServerName(t *testing.T) {
	hello := clientHello(t, "api.test")
	for _, c := range []struct {
		name  string
		b     []byte
		whole bool
		want  string
	}{
		{"whole", hello, true, "api.test"},
		{"probe's bytes", hello[:256], false, "api.test"},
		{"cut before the name ends", hello[:bytes.Index(hello, []byte("api.test"))+3], false, ""},
		{"cut in the random", hello[:40], false, ""},
		{"long name", clientHello(t, strings.Repeat("a", 63)+".example.internal")[:256], false, strings.Repeat("a", 63) + ".example.internal"},
		{"ip address", clientHello(t, "10.0.0.7")[:256], false, ""},
	} {
		for _, statements := range []bool{true, false} {
			got := *writeOp(c.b, c.whole, statements)
			if got != (Op{Protocol: "tls", ServerName: c.want}) {
				t.Errorf("%s (statements %v): got %+v, want server name %q", c.name, statements, got, c.want)
			}
		}
	}
	if i := bytes.Index(hello, []byte("api.test")); i+len("api.test") > 256 {
		t.Errorf("the server name ends at byte %d of a Go ClientHello, past the probe's 256", i+len("api.test"))
	}
	// The records of a TLS connection after its ClientHello.
	for _, b := range [][]byte{{0x14, 0x03, 0x03, 0x00, 0x01, 0x01}, {0x17, 0x03, 0x03, 0x00, 0x20, 0xaa}, {0x15, 0x03, 0x03, 0x00, 0x02, 0x01}} {
		if got := *writeOp(b, false, true); got != (Op{Protocol: "tls"}) {
			t.Errorf("% x: got %+v, want tls", b, got)
		}
	}
	// A server_name whose name is no host name is not taken.
	bad := bytes.Replace(hello, []byte("api.test"), []byte("api\x00te\xff"), 1)
	if got := writeOp(bad, true, true); got.ServerName != "" {
		t.Errorf("a name with a NUL and invalid UTF-8 was taken: %+v", got)
	}
}
