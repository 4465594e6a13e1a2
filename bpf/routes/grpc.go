// gRPC services (grpc-go): the generated RegisterFooServer(s, impl)
// registers impl's methods as the service's. What the service's methods are
// called on the wire is read from the generated package, when it is in the
// index (protoc's output inside the workspace): its
// Foo_Method_FullMethodName constants (protoc-gen-go-grpc 1.3+).

package routes

import (
	"go/ast"
	"go/token"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var grpcRegister = regexp.MustCompile(`^Register(\w+)Server$`)

// grpcRegistration reports whether call registers a gRPC service
// implementation with a generated package's RegisterFooServer, and adds a
// route per method that the implementation's own type declares.
func (a *analyzer) grpcRegistration(n *ast.CallExpr, sel *ast.SelectorExpr) bool {
	m := grpcRegister.FindStringSubmatch(sel.Sel.Name)
	if m == nil || len(n.Args) != 2 {
		return false
	}
	ip, ok := a.pkgRef(sel.X)
	if !ok {
		return false
	}
	p := a.ix.byPath[ip]
	if p == nil {
		return false
	}
	full := grpcFullMethods(p, m[1])
	if len(full) == 0 {
		return false
	}
	v := a.eval(n.Args[1])
	if v == nil || v.typ == nil {
		return true
	}
	reg := a.ix.loc("", n.Pos())
	if a.fn != nil {
		reg.Func = a.fn.sym
	}
	names := make([]string, 0, len(full))
	for name := range full {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// A method the type inherits from an embedded one (the generated
		// Unimplemented… type) is not the service's code.
		fn := v.typ.pkg.methods[v.typ.name][name]
		if fn == nil {
			continue
		}
		a.routes = append(a.routes, Route{Method: "POST", Path: full[name], Handler: *a.ix.declLoc(fn), Registration: reg})
	}
	return true
}

// grpcFullMethods maps the Go names of service svc's methods to their full
// methods ("/pkg.Service/Method"), from the generated package p's
// svc_Method_FullMethodName constants.
func grpcFullMethods(p *pkgInfo, svc string) map[string]string {
	out := map[string]string{}
	for name, ref := range p.consts {
		method, ok := strings.CutPrefix(name, svc+"_")
		if !ok {
			continue
		}
		if method, ok = strings.CutSuffix(method, "_FullMethodName"); !ok || method == "" {
			continue
		}
		if ref.idx >= len(ref.spec.Values) {
			continue
		}
		lit, ok := unparen(ref.spec.Values[ref.idx]).(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "/") {
			out[method] = s
		}
	}
	return out
}
