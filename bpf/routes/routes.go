// Package routes statically indexes the route registrations found in the Go
// source under a directory: Gin's, chi's, echo's, and net/http ServeMux
// patterns.
//
// The index is syntactic: files are parsed with go/parser and no type checking
// is done. Router values are tracked through local variables, function
// parameters, struct fields and package-level variables whose declared type
// is a Gin router (*gin.Engine, *gin.RouterGroup, gin.IRouter, gin.IRoutes),
// through gin.New / gin.Default and through Group calls. Group prefixes
// propagate into functions that receive a router as an argument. ServeMux
// values are tracked the same way (http.NewServeMux, &http.ServeMux{},
// variables, parameters and fields of that type), and http.Handle /
// http.HandleFunc register on the DefaultServeMux. chi and echo routers are
// tracked the same way (see routers.go). A gRPC service's generated
// RegisterFooServer(s, impl) gives a route per method impl's type
// declares, when the generated package is in the workspace.
package routes

import (
	"fmt"
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Loc is a position in the source, optionally with the Go symbol of the
// function found there (as it appears in a compiled binary).
type Loc struct {
	Func   string `json:"func,omitempty"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
}

// Route is one route registration: Gin's, chi's, echo's, or a ServeMux
// pattern's.
type Route struct {
	// Method is the HTTP method: GET, POST, ..., "ANY" for Any or a
	// ServeMux pattern without one, or the method argument of Handle;
	// POST for a gRPC method.
	Method string `json:"method"`
	// Path is the full path template with group prefixes joined (for chi,
	// the prefixes of the routers it is mounted or nested under, as chi's
	// RoutePattern() reads); for a ServeMux pattern, its path ("/users/{id}");
	// for a gRPC method, its full method ("/pkg.Service/Method"), what
	// requests record as route.
	Path string `json:"path"`
	// Host is a ServeMux pattern's host, if it has one.
	Host string `json:"host,omitempty"`
	// Pattern is a ServeMux pattern as registered ("GET /users/{id}"):
	// what net/http records as the request's route. Empty for Gin.
	Pattern string `json:"pattern,omitempty"`
	// Handler is where the last handler of the chain is defined.
	Handler Loc `json:"handler"`
	// Registration is the position of the registering call.
	Registration Loc `json:"registration"`
}

const ginPath = "github.com/gin-gonic/gin"

// maxDepth bounds recursive evaluation (constants, package variables) and
// the propagation of router arguments through calls.
const maxDepth = 16

var routeMethods = map[string]string{
	"GET":     "GET",
	"POST":    "POST",
	"PUT":     "PUT",
	"PATCH":   "PATCH",
	"DELETE":  "DELETE",
	"HEAD":    "HEAD",
	"OPTIONS": "OPTIONS",
	"Any":     "ANY",
	"Handle":  "",
	"Match":   "",
}

var ginRouterTypes = map[string]bool{
	"Engine":      true,
	"RouterGroup": true,
	"IRouter":     true,
	"IRoutes":     true,
}

// Index parses the Go packages under dir and returns their Gin routes,
// ordered by registration file, line and column. Files that do not parse are
// skipped.
func Index(dir string) ([]Route, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("routes: %s is not a directory", root)
	}
	ix := &indexer{
		fset:    token.NewFileSet(),
		byPath:  map[string]*pkgInfo{},
		modules: map[string]module{},
		names:   map[*funcInfo]map[*ast.FuncLit]string{},
	}
	if err := ix.load(root); err != nil {
		return nil, err
	}
	return ix.run(), nil
}

type indexer struct {
	fset    *token.FileSet
	pkgs    []*pkgInfo
	byPath  map[string]*pkgInfo
	modules map[string]module // directory -> enclosing module
	names   map[*funcInfo]map[*ast.FuncLit]string
	routes  []Route
	seen    map[string]bool // analysed (function, context) pairs
	added   map[string]bool // recorded routes
}

type edge struct {
	fn  *funcInfo
	ctx map[int]string
}

func ctxKey(fn *funcInfo, ctx map[int]string) string {
	keys := make([]int, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%p", fn)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%d=%s", k, ctx[k])
	}
	return b.String()
}

func (ix *indexer) run() []Route {
	// Pass 1: find the functions that receive routers from other code.
	called := map[*funcInfo]bool{}
	for _, p := range ix.pkgs {
		for _, fn := range p.all {
			a := ix.analyze(fn, nil)
			for _, e := range a.edges {
				if e.fn != fn {
					called[e.fn] = true
				}
			}
		}
	}
	// Pass 2: start from the functions nobody passes a router to and follow
	// router arguments into callees.
	ix.seen = map[string]bool{}
	ix.added = map[string]bool{}
	done := map[*funcInfo]bool{}
	var follow func(fn *funcInfo, ctx map[int]string, depth int)
	follow = func(fn *funcInfo, ctx map[int]string, depth int) {
		key := ctxKey(fn, ctx)
		if ix.seen[key] || depth > maxDepth {
			return
		}
		ix.seen[key] = true
		done[fn] = true
		a := ix.analyze(fn, ctx)
		ix.add(a.routes)
		for _, e := range a.edges {
			follow(e.fn, e.ctx, depth+1)
		}
	}
	for _, p := range ix.pkgs {
		for _, fn := range p.all {
			if !called[fn] {
				follow(fn, nil, 0)
			}
		}
	}
	for _, p := range ix.pkgs {
		for _, fn := range p.all {
			if !done[fn] {
				follow(fn, nil, 0)
			}
		}
	}
	rs := ix.routes
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Registration, rs[j].Registration
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if rs[i].Path != rs[j].Path {
			return rs[i].Path < rs[j].Path
		}
		return rs[i].Method < rs[j].Method
	})
	return rs
}

func (ix *indexer) add(rs []Route) {
	for _, r := range rs {
		key := fmt.Sprintf("%s %s %s %s:%d:%d %s %s:%d", r.Method, r.Path, r.Pattern,
			r.Registration.File, r.Registration.Line, r.Registration.Column,
			r.Handler.Func, r.Handler.File, r.Handler.Line)
		if ix.added[key] {
			continue
		}
		ix.added[key] = true
		ix.routes = append(ix.routes, r)
	}
}
