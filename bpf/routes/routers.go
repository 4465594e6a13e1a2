// chi (v5) and echo (v4) routers: their constructors, the calls that make
// routers with a prefix (chi's Route, Group, With and Mount; echo's
// Group), and their registrations. chi's routes are listed as chi's
// RoutePattern() names them ("/api/users/{id}"), echo's as its context's
// Path() ("/api/users/:id"): what the probe records as a request's route.

package routes

import (
	"go/ast"
	"strings"
)

const (
	chiPath  = "github.com/go-chi/chi/v5"
	echoPath = "github.com/labstack/echo/v4"

	ginKind  = "gin"
	chiKind  = "chi"
	echoKind = "echo"
)

var chiRouterTypes = map[string]bool{"Router": true, "Mux": true}

var echoRouterTypes = map[string]bool{"Echo": true, "Group": true}

// chiMethods and echoMethods: the registration methods named after an
// HTTP method.
var chiMethods = map[string]string{
	"Get": "GET", "Post": "POST", "Put": "PUT", "Patch": "PATCH", "Delete": "DELETE",
	"Head": "HEAD", "Options": "OPTIONS", "Connect": "CONNECT", "Trace": "TRACE",
}

var echoMethods = map[string]string{
	"GET": "GET", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
	"HEAD": "HEAD", "OPTIONS": "OPTIONS", "CONNECT": "CONNECT", "TRACE": "TRACE", "Any": "ANY",
}

// pendingRoute is a chi registration whose router may yet be mounted
// under a prefix further down the function (sub := chi.NewRouter();
// sub.Get(…); r.Mount("/admin", sub)): its path is made when the function
// has been walked.
type pendingRoute struct {
	router *value
	rel    string
	route  Route
}

// newRouter evaluates a constructor of the chi or echo package.
func (a *analyzer) newRouter(ip, name string) *value {
	switch {
	case ip == chiPath && (name == "NewRouter" || name == "NewMux"):
		return &value{router: true, kind: chiKind, prefix: a.newPrefix}
	case ip == echoPath && name == "New":
		return &value{router: true, kind: echoKind}
	}
	return nil
}

// routerResult evaluates a call of a chi or echo router's method that
// returns a router.
func (a *analyzer) routerResult(x *value, name string, e *ast.CallExpr) *value {
	switch x.kind {
	case chiKind:
		switch name {
		case "With", "Group":
			return &value{router: true, kind: chiKind, prefix: x.prefix}
		case "Route":
			if len(e.Args) > 0 {
				if rel, ok := a.str(e.Args[0]); ok {
					return &value{router: true, kind: chiKind, prefix: chiJoin(x.prefix, rel)}
				}
			}
		}
	case echoKind:
		if name == "Group" && len(e.Args) > 0 {
			if rel, ok := a.str(e.Args[0]); ok {
				return &value{router: true, kind: echoKind, prefix: x.prefix + rel}
			}
		}
	}
	return nil
}

// chiJoin appends a pattern to a mounted router's prefix.
func chiJoin(prefix, rel string) string {
	return strings.TrimSuffix(prefix, "/") + rel
}

// chiPattern is a full pattern as chi's RoutePattern() returns it: without
// a trailing slash, except for "/" itself.
func chiPattern(p string) string {
	if p != "/" {
		p = strings.TrimSuffix(p, "//")
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// routerCall handles a call of a chi or echo router's method; it reports
// whether the call was one of theirs.
func (a *analyzer) routerCall(n *ast.CallExpr, name string, x *value) bool {
	if x.kind == chiKind {
		return a.chiCall(n, name, x)
	}
	return a.echoCall(n, name, x)
}

func (a *analyzer) chiCall(n *ast.CallExpr, name string, x *value) bool {
	var method, rel string
	var h ast.Expr
	var ok bool
	switch {
	case chiMethods[name] != "":
		if len(n.Args) != 2 {
			return true
		}
		method, h = chiMethods[name], n.Args[1]
		rel, ok = a.str(n.Args[0])
	case name == "Handle" || name == "HandleFunc":
		if len(n.Args) != 2 {
			return true
		}
		h = n.Args[1]
		if rel, ok = a.str(n.Args[0]); ok {
			// chi takes "METHOD /pattern" too
			method = "ANY"
			if i := strings.IndexAny(rel, " \t"); i >= 0 {
				method, rel = rel[:i], strings.TrimLeft(rel[i+1:], " \t")
			}
		}
	case name == "Method" || name == "MethodFunc":
		if len(n.Args) != 3 {
			return true
		}
		h = n.Args[2]
		if method, ok = a.str(n.Args[0]); ok {
			method = strings.ToUpper(method)
			rel, ok = a.str(n.Args[1])
		}
	case name == "Route" || name == "Group":
		// the function gets a router with the route's prefix
		if len(n.Args) == 0 {
			return true
		}
		sub := a.routerResult(x, name, n)
		if sub == nil {
			return true
		}
		a.passRouter(n.Args[len(n.Args)-1], sub)
		return true
	case name == "Mount":
		if len(n.Args) != 2 {
			return true
		}
		if rel, ok = a.str(n.Args[0]); ok {
			a.mount(n.Args[1], chiJoin(x.prefix, rel))
		}
		return true
	default:
		return true
	}
	if !ok || !strings.HasPrefix(rel, "/") {
		return true
	}
	a.pending = append(a.pending, pendingRoute{router: x, rel: rel, route: Route{
		Method: method, Handler: a.muxHandler(h), Registration: a.registration(n),
	}})
	return true
}

func (a *analyzer) echoCall(n *ast.CallExpr, name string, x *value) bool {
	var methods []string
	var rel string
	var h ast.Expr
	var ok bool
	switch {
	case echoMethods[name] != "":
		if len(n.Args) < 2 {
			return true
		}
		methods, h = []string{echoMethods[name]}, n.Args[1]
		rel, ok = a.str(n.Args[0])
	case name == "Add":
		if len(n.Args) < 3 {
			return true
		}
		var m string
		if m, ok = a.str(n.Args[0]); ok {
			methods, h = []string{m}, n.Args[2]
			rel, ok = a.str(n.Args[1])
		}
	case name == "Match":
		if len(n.Args) < 3 {
			return true
		}
		cl, isLit := unparen(n.Args[0]).(*ast.CompositeLit)
		if !isLit {
			return true
		}
		for _, e := range cl.Elts {
			m, isStr := a.str(e)
			if !isStr {
				return true
			}
			methods = append(methods, m)
		}
		h = n.Args[2]
		rel, ok = a.str(n.Args[1])
	default:
		return true
	}
	if !ok || n.Ellipsis.IsValid() && h == n.Args[len(n.Args)-1] {
		return true
	}
	reg := a.registration(n)
	loc := a.handler(h)
	for _, m := range methods {
		a.routes = append(a.routes, Route{Method: m, Path: x.prefix + rel, Handler: loc, Registration: reg})
	}
	return true
}

func (a *analyzer) registration(n *ast.CallExpr) Loc {
	reg := a.ix.loc("", n.Pos())
	if a.fn != nil {
		reg.Func = a.fn.sym
	}
	return reg
}

// passRouter hands a router to the function that registers on it: a
// function literal (walked next, with its parameter bound to sub) or a
// function of the indexed tree (followed with the prefix).
func (a *analyzer) passRouter(fn ast.Expr, sub *value) {
	if lit, ok := unparen(fn).(*ast.FuncLit); ok {
		a.litArgs[lit] = []*value{sub}
		return
	}
	if target := a.funcRef(fn); target != nil {
		a.edges = append(a.edges, edge{fn: target, ctx: map[int]string{0: sub.prefix}})
	}
}

// mount puts a chi router under a prefix: a router made in this function
// (its routes get their paths when the function has been walked), or the
// routers a function of the indexed tree makes and returns.
func (a *analyzer) mount(h ast.Expr, prefix string) {
	if call, ok := unparen(h).(*ast.CallExpr); ok {
		if target := a.callee(call); target != nil {
			a.edges = append(a.edges, edge{fn: target, ctx: map[int]string{newRouterArg: prefix}})
			return
		}
	}
	if v := a.eval(h); v != nil && v.router && v.kind == chiKind {
		v.prefix = prefix
	}
}

// funcRef resolves a function value (not a call) declared in the indexed
// tree.
func (a *analyzer) funcRef(e ast.Expr) *funcInfo {
	switch f := unparen(e).(type) {
	case *ast.Ident:
		if _, local := a.lookup(f.Name); local {
			return nil
		}
		return a.fi.pkg.funcs[f.Name]
	case *ast.SelectorExpr:
		if ip, ok := a.pkgRef(f.X); ok {
			if p := a.ix.byPath[ip]; p != nil {
				return p.funcs[f.Sel.Name]
			}
			return nil
		}
		if x := a.eval(f.X); x != nil && x.typ != nil {
			return x.typ.pkg.methods[x.typ.name][f.Sel.Name]
		}
	}
	return nil
}

// finish gives the chi routes registered in the function their paths.
func (a *analyzer) finish() {
	for _, p := range a.pending {
		r := p.route
		r.Path = chiPattern(chiJoin(p.router.prefix, p.rel))
		a.routes = append(a.routes, r)
	}
	a.pending = nil
}
