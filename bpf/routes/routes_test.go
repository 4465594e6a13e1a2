package routes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goMod = "module example.com/svc\n\ngo 1.24\n\nrequire github.com/gin-gonic/gin v1.10.0\n"

const mainGo = `package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"example.com/svc/handlers"
	"github.com/acme/ext"
)

const apiPrefix = "/api"

type server struct {
	name string
}

func (s *server) createOrder(c *gin.Context) {
	c.Status(http.StatusCreated)
}

func (s server) listOrders(c *gin.Context) {
	c.Status(http.StatusOK)
}

func echo(c *gin.Context) {
	c.String(http.StatusOK, "echo")
}

func makeHandler(msg string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.String(http.StatusOK, msg)
	}
}

func main() {
	r := gin.Default()
	s := &server{}
	r.GET("/echo", echo)
	r.POST("/literal", func(c *gin.Context) {
		c.Status(http.StatusOK)
	})
	api := r.Group(apiPrefix)
	{
		v1 := api.Group("/v1")
		{
			v1.POST("/orders", s.createOrder)
			v1.GET("/orders/:id", gin.Logger(), s.listOrders)
		}
		api.GET("/ext", handlers.Echo)
		handlers.Register(api)
	}
	r.Handle(http.MethodGet, "/handle", echo)
	r.Any("/any", makeHandler("x"))
	r.GET("/foreign", ext.Handle)
	registerAdmin(r.Group("/admin"))
	_ = r.Run()
}

func registerAdmin(g *gin.RouterGroup) {
	g.DELETE("/users/:id", echo)
	g.GET("/health/", handlers.New().Health)
}
`

const otherGo = `package main

import (
	web "github.com/gin-gonic/gin"
)

type client struct{}

func (client) GET(path string, h func()) {}

type app struct {
	router *web.Engine
}

func (a *app) routes() {
	a.router.HEAD("/head", echo)
	a.router.OPTIONS("/opts", echo)
}

func other() {
	e := web.New()
	e.PUT("/put/", echo)
	r := client{}
	r.GET("/not-gin", func() {})
	var gin client
	gin.GET("/also-not-gin", func() {})
}
`

const brokenGo = `package main

import "github.com/gin-gonic/gin"

func broken( {
	r := gin.New()
	r.GET("/broken", echo)
}
`

const handlersGo = `package handlers

import "github.com/gin-gonic/gin"

type H struct{}

func New() *H { return &H{} }

func (h *H) Health(c *gin.Context) {}

func Echo(c *gin.Context) {
	c.String(200, "ok")
}

// Register mounts the package's routes.
func Register(r gin.IRouter) {
	r.PATCH("/items/:id", Echo)
}
`

const ignoredGo = `package ignored

import "github.com/gin-gonic/gin"

func Routes() {
	r := gin.New()
	r.GET("/ignored", func(c *gin.Context) {})
}
`

const ignoredTestGo = `package main

import (
	"testing"

	"github.com/gin-gonic/gin"
)

func TestX(t *testing.T) {
	r := gin.New()
	r.GET("/from-test", echo)
}
`

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the 1-based line of the only line of src containing sub.
func lineOf(t *testing.T, src, sub string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, sub) {
			if line != 0 {
				t.Fatalf("%q occurs more than once", sub)
			}
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("%q not found", sub)
	}
	return line
}

func TestIndex(t *testing.T) {
	dir := t.TempDir()
	mainFile := filepath.Join(dir, "main.go")
	otherFile := filepath.Join(dir, "other.go")
	hFile := filepath.Join(dir, "handlers", "handlers.go")
	writeFile(t, filepath.Join(dir, "go.mod"), goMod)
	writeFile(t, mainFile, mainGo)
	writeFile(t, otherFile, otherGo)
	writeFile(t, filepath.Join(dir, "broken.go"), brokenGo)
	writeFile(t, hFile, handlersGo)
	writeFile(t, filepath.Join(dir, "main_test.go"), ignoredTestGo)
	for _, sub := range []string{"vendor/x", "testdata", ".hidden", "node_modules/y"} {
		writeFile(t, filepath.Join(dir, sub, "r.go"), ignoredGo)
	}

	got, err := Index(dir)
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		method, path string
		fn           string
		hFile        string
		hLine        int
		regFile      string
		regLine      int
		regFunc      string
	}
	m := func(sub string) int { return lineOf(t, mainGo, sub) }
	o := func(sub string) int { return lineOf(t, otherGo, sub) }
	h := func(sub string) int { return lineOf(t, handlersGo, sub) }
	wants := []want{
		// handlers/handlers.go sorts before main.go.
		{"PATCH", "/api/items/:id", "example.com/svc/handlers.Echo", hFile, h("func Echo("), hFile, h(`r.PATCH(`), "example.com/svc/handlers.Register"},
		{"GET", "/echo", "main.echo", mainFile, m("func echo("), mainFile, m(`r.GET("/echo"`), "main.main"},
		{"POST", "/literal", "main.main.func1", mainFile, m(`r.POST("/literal"`), mainFile, m(`r.POST("/literal"`), "main.main"},
		{"POST", "/api/v1/orders", "main.(*server).createOrder", mainFile, m("func (s *server) createOrder("), mainFile, m(`v1.POST(`), "main.main"},
		{"GET", "/api/v1/orders/:id", "main.server.listOrders", mainFile, m("func (s server) listOrders("), mainFile, m(`v1.GET(`), "main.main"},
		{"GET", "/api/ext", "example.com/svc/handlers.Echo", hFile, h("func Echo("), mainFile, m(`api.GET("/ext"`), "main.main"},
		{"GET", "/handle", "main.echo", mainFile, m("func echo("), mainFile, m(`r.Handle(`), "main.main"},
		{"ANY", "/any", "main.makeHandler.func1", mainFile, m(`r.Any(`), mainFile, m(`r.Any(`), "main.main"},
		{"GET", "/foreign", "github.com/acme/ext.Handle", "", 0, mainFile, m(`r.GET("/foreign"`), "main.main"},
		{"DELETE", "/admin/users/:id", "main.echo", mainFile, m("func echo("), mainFile, m(`g.DELETE(`), "main.registerAdmin"},
		{"GET", "/admin/health/", "example.com/svc/handlers.(*H).Health", hFile, h("func (h *H) Health("), mainFile, m(`g.GET(`), "main.registerAdmin"},
		{"HEAD", "/head", "main.echo", mainFile, m("func echo("), otherFile, o(`a.router.HEAD(`), "main.(*app).routes"},
		{"OPTIONS", "/opts", "main.echo", mainFile, m("func echo("), otherFile, o(`a.router.OPTIONS(`), "main.(*app).routes"},
		{"PUT", "/put/", "main.echo", mainFile, m("func echo("), otherFile, o(`e.PUT(`), "main.other"},
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
		if r.Handler.Func != w.fn || r.Handler.File != w.hFile || r.Handler.Line != w.hLine {
			t.Errorf("%s %s: handler %+v, want func %s at %s:%d", w.method, w.path, r.Handler, w.fn, w.hFile, w.hLine)
		}
		if r.Registration.File != w.regFile || r.Registration.Line != w.regLine || r.Registration.Func != w.regFunc {
			t.Errorf("%s %s: registration %+v, want %s at %s:%d", w.method, w.path, r.Registration, w.regFunc, w.regFile, w.regLine)
		}
		if r.Registration.Column == 0 {
			t.Errorf("%s %s: registration without column", w.method, w.path)
		}
		if w.hFile != "" && !filepath.IsAbs(r.Handler.File) {
			t.Errorf("%s %s: handler file %q is not absolute", w.method, w.path, r.Handler.File)
		}
	}
}

func TestIndexRelativeDirAndErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), goMod)
	writeFile(t, filepath.Join(dir, "main.go"), `package main

import "github.com/gin-gonic/gin"

func ping(c *gin.Context) {}

func main() {
	gin.New().GET("/ping", ping)
}
`)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Skip("no relative path to the temporary directory")
	}
	got, err := Index(rel)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != "/ping" || got[0].Handler.Func != "main.ping" ||
		got[0].Registration.File != filepath.Join(dir, "main.go") {
		t.Fatalf("got %+v", got)
	}

	if _, err := Index(filepath.Join(dir, "missing")); err == nil {
		t.Error("Index of a missing directory succeeded")
	}
	if _, err := Index(filepath.Join(dir, "main.go")); err == nil {
		t.Error("Index of a file succeeded")
	}
}

func TestJoinPaths(t *testing.T) {
	for _, c := range []struct{ abs, rel, want string }{
		{"/", "", "/"},
		{"/", "/a", "/a"},
		{"/api", "v1", "/api/v1"},
		{"/api", "/v1/", "/api/v1/"},
		{"/api/", "/", "/api/"},
		{"/api", "", "/api"},
		{"", "/x", "/x"},
	} {
		if got := joinPaths(c.abs, c.rel); got != c.want {
			t.Errorf("joinPaths(%q, %q) = %q, want %q", c.abs, c.rel, got, c.want)
		}
	}
}

func TestSymPrefix(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"example.com/svc/handlers", "example.com/svc/handlers"},
		{"gopkg.in/yaml.v3", "gopkg.in/yaml%2ev3"},
		{"fmt", "fmt"},
	} {
		if got := symPrefix(c.in); got != c.want {
			t.Errorf("symPrefix(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
