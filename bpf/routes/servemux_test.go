package routes

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

const muxGoMod = "module example.com/muxsvc\n\ngo 1.22\n"

const muxMainGo = `package main

import (
	"net/http"

	"example.com/muxsvc/api"
)

type users struct{}

func (u *users) get(w http.ResponseWriter, r *http.Request) {}

type health struct{}

func (health) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

type server struct {
	*http.ServeMux
	name string
}

type app struct {
	mux *http.ServeMux
}

func index(w http.ResponseWriter, r *http.Request) {}

func wrap(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {}
}

var global = http.NewServeMux()

const usersPattern = "GET /users/{id}"

func main() {
	mux := http.NewServeMux()
	u := &users{}
	mux.HandleFunc(usersPattern, u.get)
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
	})
	mux.Handle("GET\t example.com/hosted/{$}", http.HandlerFunc(index))
	mux.Handle("/health", health{})
	mux.Handle("/static/", http.StripPrefix("/static", http.FileServer(http.Dir("."))))
	http.HandleFunc("/", index)
	http.Handle("DELETE /items/{id...}", wrap("x"))
	http.DefaultServeMux.HandleFunc("/default", index)
	global.HandleFunc("PUT /global", index)
	s := server{ServeMux: new(http.ServeMux)}
	s.HandleFunc("/embedded", index)
	a := &app{mux: &http.ServeMux{}}
	a.mux.HandleFunc("/field", index)
	api.Mount(mux)
	mux.HandleFunc(pick(), index)
	notMux := map[string]int{}
	_ = notMux
	_ = http.ListenAndServe(":8080", mux)
}

func pick() string { return "/dynamic" }
`

const muxAPIGo = `package api

import "net/http"

func list(w http.ResponseWriter, r *http.Request) {}

// Mount registers the package's handlers.
func Mount(m *http.ServeMux) {
	m.HandleFunc("GET /api/list", list)
}

type client struct{}

func (client) HandleFunc(pattern string, f func()) {}

func other() {
	var c client
	c.HandleFunc("/not-a-mux", func() {})
}
`

func TestIndexServeMux(t *testing.T) {
	dir := t.TempDir()
	mainFile := filepath.Join(dir, "main.go")
	apiFile := filepath.Join(dir, "api", "api.go")
	writeFile(t, filepath.Join(dir, "go.mod"), muxGoMod)
	writeFile(t, mainFile, muxMainGo)
	writeFile(t, apiFile, muxAPIGo)
	got, err := Index(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := func(sub string) int { return lineOf(t, muxMainGo, sub) }
	a := func(sub string) int { return lineOf(t, muxAPIGo, sub) }
	type want struct {
		pattern, method, host, path string
		fn                          string
		hFile                       string
		hLine                       int
		regFile                     string
		regLine                     int
		regFunc                     string
	}
	wants := []want{
		// api/api.go sorts before main.go.
		{"GET /api/list", "GET", "", "/api/list", "example.com/muxsvc/api.list", apiFile, a("func list("), apiFile, a(`m.HandleFunc(`), "example.com/muxsvc/api.Mount"},
		{"GET /users/{id}", "GET", "", "/users/{id}", "main.(*users).get", mainFile, m("func (u *users) get("), mainFile, m(`mux.HandleFunc(usersPattern`), "main.main"},
		{"POST /orders", "POST", "", "/orders", "main.main.func1", mainFile, m(`mux.HandleFunc("POST /orders"`), mainFile, m(`mux.HandleFunc("POST /orders"`), "main.main"},
		{"GET\t example.com/hosted/{$}", "GET", "example.com", "/hosted/{$}", "main.index", mainFile, m("func index("), mainFile, m(`hosted`), "main.main"},
		{"/health", "ANY", "", "/health", "main.health.ServeHTTP", mainFile, m("func (health) ServeHTTP("), mainFile, m(`mux.Handle("/health"`), "main.main"},
		{"/static/", "ANY", "", "/static/", "", mainFile, m(`mux.Handle("/static/"`), mainFile, m(`mux.Handle("/static/"`), "main.main"},
		{"/", "ANY", "", "/", "main.index", mainFile, m("func index("), mainFile, m(`http.HandleFunc("/"`), "main.main"},
		{"DELETE /items/{id...}", "DELETE", "", "/items/{id...}", "main.wrap.func1", mainFile, m(`http.Handle("DELETE`), mainFile, m(`http.Handle("DELETE`), "main.main"},
		{"/default", "ANY", "", "/default", "main.index", mainFile, m("func index("), mainFile, m(`DefaultServeMux.HandleFunc`), "main.main"},
		{"PUT /global", "PUT", "", "/global", "main.index", mainFile, m("func index("), mainFile, m(`global.HandleFunc`), "main.main"},
		{"/embedded", "ANY", "", "/embedded", "main.index", mainFile, m("func index("), mainFile, m(`s.HandleFunc`), "main.main"},
		{"/field", "ANY", "", "/field", "main.index", mainFile, m("func index("), mainFile, m(`a.mux.HandleFunc`), "main.main"},
	}
	if len(got) != len(wants) {
		js, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("got %d routes, want %d:\n%s", len(got), len(wants), js)
	}
	for i, w := range wants {
		r := got[i]
		if r.Pattern != w.pattern || r.Method != w.method || r.Host != w.host || r.Path != w.path {
			t.Errorf("route %d: got %q (%s %q %s), want %q (%s %q %s)", i, r.Pattern, r.Method, r.Host, r.Path, w.pattern, w.method, w.host, w.path)
			continue
		}
		if r.Handler.Func != w.fn || r.Handler.File != w.hFile || r.Handler.Line != w.hLine {
			t.Errorf("%q: handler %+v, want func %q at %s:%d", w.pattern, r.Handler, w.fn, w.hFile, w.hLine)
		}
		if r.Registration.File != w.regFile || r.Registration.Line != w.regLine || r.Registration.Func != w.regFunc {
			t.Errorf("%q: registration %+v, want %s at %s:%d", w.pattern, r.Registration, w.regFunc, w.regFile, w.regLine)
		}
	}
}

func TestParsePattern(t *testing.T) {
	for _, c := range []struct {
		in                 string
		method, host, path string
		ok                 bool
	}{
		{"/", "", "", "/", true},
		{"GET /users/{id}", "GET", "", "/users/{id}", true},
		{"POST  \t/x", "POST", "", "/x", true},
		{"example.com/", "", "example.com", "/", true},
		{"GET example.com/a/{b...}", "GET", "example.com", "/a/{b...}", true},
		{"GET", "", "", "", false},
		{"", "", "", "", false},
	} {
		m, h, p, ok := parsePattern(c.in)
		if m != c.method || h != c.host || p != c.path || ok != c.ok {
			t.Errorf("parsePattern(%q) = %q %q %q %v, want %q %q %q %v", c.in, m, h, p, ok, c.method, c.host, c.path, c.ok)
		}
	}
}
