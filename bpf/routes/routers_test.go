package routes

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

const chiGoMod = "module example.com/chisvc\n\ngo 1.22\n\nrequire github.com/go-chi/chi/v5 v5.2.3\n"

const chiMainGo = `package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"example.com/chisvc/admin"
)

type users struct{}

func (u *users) get(w http.ResponseWriter, r *http.Request) {}

func index(w http.ResponseWriter, r *http.Request) {}

func mw(next http.Handler) http.Handler { return next }

type app struct {
	r chi.Router
}

func main() {
	r := chi.NewRouter()
	r.Use(mw)
	u := &users{}
	r.Get("/", index)
	r.Get("/users/{id}", u.get)
	r.With(mw).Post("/users", index)
	r.Route("/api", func(r chi.Router) {
		r.Get("/orders/{id:[0-9]+}", func(w http.ResponseWriter, r *http.Request) {
		})
		r.Group(func(r chi.Router) {
			r.Use(mw)
			r.Delete("/orders/{id}", index)
		})
		r.Route("/v2", v2)
	})
	sub := chi.NewRouter()
	sub.Get("/", index)
	sub.Handle("GET /hooks", http.HandlerFunc(index))
	sub.Method(http.MethodPut, "/items/*", http.HandlerFunc(index))
	r.Mount("/sub", sub)
	r.Mount("/admin", admin.Router())
	a := &app{r: r}
	a.r.HandleFunc("/field", index)
	_ = http.ListenAndServe(":8080", r)
}

func v2(r chi.Router) {
	r.Patch("/orders/{id}", index)
}
`

const chiAdminGo = `package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

func stats(w http.ResponseWriter, r *http.Request) {}

// Router is mounted by main.
func Router() http.Handler {
	r := chi.NewRouter()
	r.Get("/stats", stats)
	return r
}
`

func TestIndexChi(t *testing.T) {
	dir := t.TempDir()
	mainFile := filepath.Join(dir, "main.go")
	adminFile := filepath.Join(dir, "admin", "admin.go")
	writeFile(t, filepath.Join(dir, "go.mod"), chiGoMod)
	writeFile(t, mainFile, chiMainGo)
	writeFile(t, adminFile, chiAdminGo)
	got, err := Index(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := func(sub string) int { return lineOf(t, chiMainGo, sub) }
	a := func(sub string) int { return lineOf(t, chiAdminGo, sub) }
	type want struct {
		method, path, fn, hFile string
		hLine, regLine          int
	}
	wants := []want{
		// admin/admin.go sorts before main.go.
		{"GET", "/admin/stats", "example.com/chisvc/admin.stats", adminFile, a("func stats("), a(`r.Get("/stats"`)},
		{"GET", "/", "main.index", mainFile, m("func index("), m(`r.Get("/", index)`)},
		{"GET", "/users/{id}", "main.(*users).get", mainFile, m("func (u *users) get("), m(`r.Get("/users/{id}"`)},
		{"POST", "/users", "main.index", mainFile, m("func index("), m(`Post("/users"`)},
		{"GET", "/api/orders/{id:[0-9]+}", "main.main.func1.1", mainFile, m(`r.Get("/orders/{id:[0-9]+}"`), m(`r.Get("/orders/{id:[0-9]+}"`)},
		{"DELETE", "/api/orders/{id}", "main.index", mainFile, m("func index("), m(`r.Delete(`)},
		{"GET", "/sub", "main.index", mainFile, m("func index("), m(`sub.Get("/"`)},
		{"GET", "/sub/hooks", "main.index", mainFile, m("func index("), m(`sub.Handle(`)},
		{"PUT", "/sub/items/*", "main.index", mainFile, m("func index("), m(`sub.Method(`)},
		{"ANY", "/field", "main.index", mainFile, m("func index("), m(`a.r.HandleFunc(`)},
		{"PATCH", "/api/v2/orders/{id}", "main.index", mainFile, m("func index("), m(`r.Patch(`)},
	}
	if len(got) != len(wants) {
		js, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("got %d routes, want %d:\n%s", len(got), len(wants), js)
	}
	for i, w := range wants {
		r := got[i]
		if r.Method != w.method || r.Path != w.path || r.Pattern != "" {
			t.Errorf("route %d: got %s %s (pattern %q), want %s %s", i, r.Method, r.Path, r.Pattern, w.method, w.path)
			continue
		}
		if r.Handler.Func != w.fn || r.Handler.File != w.hFile || r.Handler.Line != w.hLine {
			t.Errorf("%s %s: handler %+v, want func %q at %s:%d", w.method, w.path, r.Handler, w.fn, w.hFile, w.hLine)
		}
		if r.Registration.Line != w.regLine {
			t.Errorf("%s %s: registered at line %d, want %d", w.method, w.path, r.Registration.Line, w.regLine)
		}
	}
}

const echoGoMod = "module example.com/echosvc\n\ngo 1.22\n\nrequire github.com/labstack/echo/v4 v4.12.0\n"

const echoMainGo = `package main

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

type users struct{}

func (u *users) get(c echo.Context) error { return nil }

func index(c echo.Context) error { return nil }

func mw(next echo.HandlerFunc) echo.HandlerFunc { return next }

func main() {
	e := echo.New()
	e.Use(mw)
	u := &users{}
	e.GET("/users/:id", u.get, mw)
	e.POST("/users", func(c echo.Context) error {
		return nil
	})
	e.Any("/any", index)
	e.Add(http.MethodPut, "/add", index)
	e.Match([]string{"GET", "HEAD"}, "/match", index)
	api := e.Group("/api", mw)
	v1 := api.Group("/v1")
	v1.DELETE("/orders/:id", index)
	register(api)
	_ = e.Start(":8080")
}

func register(g *echo.Group) {
	g.PATCH("/items/*", index)
}
`

func TestIndexEcho(t *testing.T) {
	dir := t.TempDir()
	mainFile := filepath.Join(dir, "main.go")
	writeFile(t, filepath.Join(dir, "go.mod"), echoGoMod)
	writeFile(t, mainFile, echoMainGo)
	got, err := Index(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := func(sub string) int { return lineOf(t, echoMainGo, sub) }
	type want struct {
		method, path, fn string
		hLine, regLine   int
	}
	wants := []want{
		{"GET", "/users/:id", "main.(*users).get", m("func (u *users) get("), m(`e.GET(`)},
		{"POST", "/users", "main.main.func1", m(`e.POST(`), m(`e.POST(`)},
		{"ANY", "/any", "main.index", m("func index("), m(`e.Any(`)},
		{"PUT", "/add", "main.index", m("func index("), m(`e.Add(`)},
		{"GET", "/match", "main.index", m("func index("), m(`e.Match(`)},
		{"HEAD", "/match", "main.index", m("func index("), m(`e.Match(`)},
		{"DELETE", "/api/v1/orders/:id", "main.index", m("func index("), m(`v1.DELETE(`)},
		{"PATCH", "/api/items/*", "main.index", m("func index("), m(`g.PATCH(`)},
	}
	if len(got) != len(wants) {
		js, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("got %d routes, want %d:\n%s", len(got), len(wants), js)
	}
	for i, w := range wants {
		r := got[i]
		if r.Method != w.method || r.Path != w.path {
			t.Errorf("route %d: got %s %s, want %s %s", i, r.Method, r.Path, w.method, w.path)
			continue
		}
		if r.Handler.Func != w.fn || r.Handler.File != mainFile || r.Handler.Line != w.hLine {
			t.Errorf("%s %s: handler %+v, want func %q at main.go:%d", w.method, w.path, r.Handler, w.fn, w.hLine)
		}
		if r.Registration.Line != w.regLine {
			t.Errorf("%s %s: registered at line %d, want %d", w.method, w.path, r.Registration.Line, w.regLine)
		}
	}
}

// TestChiPattern: the paths of mounted routers read as chi's
// RoutePattern() makes them of the routers' patterns.
func TestChiPattern(t *testing.T) {
	for _, c := range []struct{ prefix, rel, want string }{
		{"", "/", "/"},
		{"", "/users/{id}", "/users/{id}"},
		{"/api", "/", "/api"},
		{"/api", "/users/", "/api/users"},
		{"/api/", "/users", "/api/users"},
		{"/api/v2", "/x/*", "/api/v2/x/*"},
	} {
		if got := chiPattern(chiJoin(c.prefix, c.rel)); got != c.want {
			t.Errorf("%q under %q: %q, want %q", c.rel, c.prefix, got, c.want)
		}
	}
}
