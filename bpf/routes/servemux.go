// net/http's own router: registrations on a *http.ServeMux (Handle,
// HandleFunc) and on the DefaultServeMux (http.Handle, http.HandleFunc),
// with Go 1.22 patterns: "[METHOD ][HOST]/[PATH]".

package routes

import (
	"go/ast"
	"strings"
)

const httpPath = "net/http"

// muxRegistration reports whether call registers a handler on a ServeMux.
func (a *analyzer) muxRegistration(n *ast.CallExpr, sel *ast.SelectorExpr) bool {
	if sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc" {
		return false
	}
	if ip, ok := a.pkgRef(sel.X); ok {
		if ip != httpPath {
			return false
		}
	} else if x := a.eval(sel.X); x == nil || !x.mux {
		return false
	}
	if len(n.Args) != 2 {
		return true
	}
	pattern, ok := a.str(n.Args[0])
	if !ok {
		return true
	}
	method, host, path, ok := parsePattern(pattern)
	if !ok {
		return true
	}
	if method == "" {
		method = "ANY"
	}
	reg := a.ix.loc("", n.Pos())
	if a.fn != nil {
		reg.Func = a.fn.sym
	}
	a.routes = append(a.routes, Route{Method: method, Path: path, Host: host, Pattern: pattern,
		Handler: a.muxHandler(n.Args[1]), Registration: reg})
	return true
}

// parsePattern splits a ServeMux pattern as net/http does: an optional
// method and blanks, then a host up to the first slash, then the path.
func parsePattern(s string) (method, host, path string, ok bool) {
	rest := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		method, rest = s[:i], strings.TrimLeft(s[i+1:], " \t")
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", "", false
	}
	return method, rest[:i], rest[i:], true
}

// muxHandler locates a ServeMux handler: a function or method value, a
// closure, http.HandlerFunc(f), or a value whose type has a ServeHTTP
// method.
func (a *analyzer) muxHandler(e ast.Expr) Loc {
	if call, ok := unparen(e).(*ast.CallExpr); ok && len(call.Args) == 1 {
		if sel, ok := unparen(call.Fun).(*ast.SelectorExpr); ok && sel.Sel.Name == "HandlerFunc" {
			if ip, ok := a.pkgRef(sel.X); ok && ip == httpPath {
				return a.muxHandler(call.Args[0])
			}
		}
	}
	v := a.eval(e)
	if v != nil && v.handler != nil {
		return *v.handler
	}
	if v != nil && v.typ != nil {
		if m := v.typ.pkg.methods[v.typ.name]["ServeHTTP"]; m != nil {
			return *a.ix.declLoc(m)
		}
	}
	return a.ix.loc("", e.Pos())
}

// isServeMux reports whether t is http.ServeMux, *http.ServeMux, or a
// declared type that is, aliases or embeds one.
func (ix *indexer) isServeMux(t ast.Expr, fi *fileInfo, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch e := t.(type) {
	case *ast.ParenExpr:
		return ix.isServeMux(e.X, fi, depth+1)
	case *ast.StarExpr:
		return ix.isServeMux(e.X, fi, depth+1)
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		if !ok {
			return false
		}
		ip := fi.imports[id.Name]
		if ip == httpPath {
			return e.Sel.Name == "ServeMux"
		}
		if p := ix.byPath[ip]; p != nil {
			if ti := p.types[e.Sel.Name]; ti != nil {
				return ix.namedServeMux(ti, depth+1)
			}
		}
	case *ast.Ident:
		if ti := fi.pkg.types[e.Name]; ti != nil {
			return ix.namedServeMux(ti, depth+1)
		}
	}
	return false
}

func (ix *indexer) namedServeMux(ti *typeInfo, depth int) bool {
	if st, ok := ti.spec.Type.(*ast.StructType); ok {
		for _, f := range st.Fields.List {
			if len(f.Names) == 0 && ix.isServeMux(f.Type, ti.file, depth+1) {
				return true
			}
		}
		return false
	}
	return ix.isServeMux(ti.spec.Type, ti.file, depth+1)
}
