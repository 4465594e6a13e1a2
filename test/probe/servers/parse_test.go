package servers

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMonitorLine(t *testing.T) {
	c, err := ParseMonitorLine(`+1733195000.012345 [3 127.0.0.1:54321] "set" "a\"b\\c" "x\x00y\r\n\t"`)
	if err != nil {
		t.Fatal(err)
	}
	want := Command{
		At: time.Unix(1733195000, 12345000).UTC(), DB: 3, Client: "127.0.0.1:54321", Host: "127.0.0.1", Port: 54321,
		Name: "SET", Args: []string{`a"b\c`, "x\x00y\r\n\t"}, Key: `a"b\c`,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	c, err = ParseMonitorLine(`+1733195000.1 [0 lua] "PING"`)
	if err != nil || c.Client != "lua" || c.Port != 0 || c.Name != "PING" || c.Key != "" {
		t.Errorf("lua: %+v %v", c, err)
	}
	for _, bad := range []string{`+1733195000.1 "GET"`, `+x [0 127.0.0.1:1] "GET"`, `+1.0 [0 127.0.0.1:1] "GET`, `+1.0 [0 127.0.0.1:1] GET`} {
		if _, err := ParseMonitorLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParsePostgresLog(t *testing.T) {
	log := strings.Join([]string{
		"2026-12-03 02:27:24.350 UTC [16409] 127.0.0.1(58808) LOG:  not our prefix",
		"2026-12-03 02:27:24.351 UTC [16409] <127.0.0.1(58808)> LOG:  connection authorized: user=postgres database=postgres",
		"2026-12-03 02:27:24.352 UTC [16409] <127.0.0.1(58808)> LOG:  statement: SELECT 1,",
		"\t 2",
		"2026-12-03 02:27:24.353 UTC [16410] <[local]> LOG:  execute <unnamed>: SELECT $1",
		"2026-12-03 02:27:24.353 UTC [16410] <[local]> DETAIL:  parameters: $1 = '7'",
		"2026-12-03 02:27:24.354 UTC [16411] <127.0.0.1(40000)> ERROR:  syntax error at or near \"SELEC\"",
		"2026-12-03 02:27:24.354 UTC [16411] <127.0.0.1(40000)> STATEMENT:  SELEC",
		"",
	}, "\n")
	sts, err := ParsePostgresLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return time.Date(2026, 12, 3, 2, 27, 24, ms*1e6, time.UTC) }
	want := []Statement{
		{At: at(352), PID: 16409, Client: "127.0.0.1(58808)", Host: "127.0.0.1", Port: 58808, Text: "SELECT 1,\n 2"},
		{At: at(353), PID: 16410, Client: "[local]", Host: "[local]", Text: "SELECT $1"},
	}
	if len(sts) != len(want) {
		t.Fatalf("got %+v", sts)
	}
	for i := range want {
		if !sts[i].At.Equal(want[i].At) {
			t.Errorf("%d: at %v, want %v", i, sts[i].At, want[i].At)
		}
		sts[i].At = want[i].At
		if !reflect.DeepEqual(sts[i], want[i]) {
			t.Errorf("%d: got %+v\nwant %+v", i, sts[i], want[i])
		}
	}
}
