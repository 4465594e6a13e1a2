// Evaluation: what an expression is known to be (a router with a prefix, a
// handler, a string) by following constants, variables, calls, fields and
// types, within maxDepth.

package routes

import (
	"go/ast"
	"go/token"
	"strconv"
	"strings"
)

type namedType struct {
	pkg  *pkgInfo
	name string
}

// value is what is known about an expression.
type value struct {
	router  bool
	kind    string // the router's package: "" Gin, chiKind, echoKind
	prefix  string
	mux     bool // a *http.ServeMux
	typ     *namedType
	handler *Loc
	str     *string
}

func strValue(s string) *value { return &value{str: &s} }

func unparen(e ast.Expr) ast.Expr {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

func (a *analyzer) eval(expr ast.Expr) *value {
	if expr == nil || a.depth > maxDepth {
		return nil
	}
	switch e := unparen(expr).(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			if s, err := strconv.Unquote(e.Value); err == nil {
				return strValue(s)
			}
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			l, r := a.eval(e.X), a.eval(e.Y)
			if l != nil && r != nil && l.str != nil && r.str != nil {
				return strValue(*l.str + *r.str)
			}
		}
	case *ast.Ident:
		if v, ok := a.lookup(e.Name); ok {
			return v
		}
		return a.ix.pkgMember(a.fi.pkg, e.Name, a.depth+1)
	case *ast.FuncLit:
		l := a.ix.loc(a.names[e], e.Pos())
		return &value{handler: &l}
	case *ast.UnaryExpr:
		if e.Op == token.AND {
			return a.eval(e.X)
		}
	case *ast.StarExpr:
		return a.eval(e.X)
	case *ast.CompositeLit:
		if e.Type != nil {
			return a.typeValue(e.Type, a.fi)
		}
	case *ast.SelectorExpr:
		if ip, ok := a.pkgRef(e.X); ok {
			return a.ix.foreignMember(ip, e.Sel.Name, a.depth+1)
		}
		x := a.eval(e.X)
		if x == nil || x.typ == nil {
			return nil
		}
		return a.ix.member(x.typ, e.Sel.Name)
	case *ast.CallExpr:
		return a.evalCall(e)
	}
	return nil
}

func (a *analyzer) evalCall(e *ast.CallExpr) *value {
	if sel, ok := unparen(e.Fun).(*ast.SelectorExpr); ok {
		if ip, ok := a.pkgRef(sel.X); ok && ip == ginPath {
			switch sel.Sel.Name {
			case "New", "Default":
				return &value{router: true, prefix: "/"}
			case "WrapF", "WrapH":
				l := a.ix.loc(ginPath+"."+sel.Sel.Name+".func1", e.Pos())
				return &value{handler: &l}
			}
			return nil
		}
		if ip, ok := a.pkgRef(sel.X); ok && ip == httpPath && sel.Sel.Name == "NewServeMux" {
			return &value{mux: true}
		}
		if ip, ok := a.pkgRef(sel.X); ok && (ip == chiPath || ip == echoPath) {
			return a.newRouter(ip, sel.Sel.Name)
		}
		if _, isPkg := a.pkgRef(sel.X); !isPkg {
			if x := a.eval(sel.X); x != nil && x.router && x.kind != "" {
				return a.routerResult(x, sel.Sel.Name, e)
			}
			if x := a.eval(sel.X); x != nil && x.router {
				switch sel.Sel.Name {
				case "Group":
					if len(e.Args) == 0 {
						return nil
					}
					rel, ok := a.str(e.Args[0])
					if !ok {
						return nil
					}
					return &value{router: true, prefix: joinPaths(x.prefix, rel)}
				case "Use":
					return x
				}
				if _, isRoute := routeMethods[sel.Sel.Name]; isRoute {
					return x
				}
				if x.typ == nil {
					return nil
				}
			}
		}
	}
	if id, ok := unparen(e.Fun).(*ast.Ident); ok && id.Name == "new" && len(e.Args) == 1 {
		if _, local := a.lookup(id.Name); !local && a.fi.pkg.funcs[id.Name] == nil {
			return a.typeValue(e.Args[0], a.fi)
		}
	}
	if id, ok := unparen(e.Fun).(*ast.Ident); ok && a.fi.ginDot {
		if _, local := a.lookup(id.Name); !local && a.fi.pkg.funcs[id.Name] == nil {
			switch id.Name {
			case "New", "Default":
				return &value{router: true, prefix: "/"}
			case "WrapF", "WrapH":
				l := a.ix.loc(ginPath+"."+id.Name+".func1", e.Pos())
				return &value{handler: &l}
			}
		}
	}
	rs := a.callResults(e)
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}

// callResults describes the results of a call to a known function.
func (a *analyzer) callResults(e *ast.CallExpr) []*value {
	fn := a.callee(e)
	if fn == nil {
		return nil
	}
	ft := fn.decl.Type
	if ft.Results == nil {
		return nil
	}
	var out []*value
	for _, f := range ft.Results.List {
		v := a.typeValue(f.Type, fn.file)
		if isFuncType(f.Type, fn.file) {
			// A handler factory: point at the call, name the closure it
			// returns when that is evident.
			l := a.ix.loc(a.ix.returnedClosure(fn), e.Pos())
			v = &value{handler: &l}
		}
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			out = append(out, v)
		}
	}
	return out
}

func isFuncType(t ast.Expr, fi *fileInfo) bool {
	switch t := t.(type) {
	case *ast.FuncType:
		return true
	case *ast.SelectorExpr:
		if id, ok := t.X.(*ast.Ident); ok && fi.imports[id.Name] == ginPath && t.Sel.Name == "HandlerFunc" {
			return true
		}
		if id, ok := t.X.(*ast.Ident); ok && fi.imports[id.Name] == "net/http" && t.Sel.Name == "HandlerFunc" {
			return true
		}
	case *ast.Ident:
		if fi.ginDot && t.Name == "HandlerFunc" {
			return true
		}
		if ti := fi.pkg.types[t.Name]; ti != nil {
			_, ok := ti.spec.Type.(*ast.FuncType)
			return ok
		}
	}
	return false
}

// returnedClosure names the function literal a handler factory returns
// directly, if there is exactly one such literal.
func (ix *indexer) returnedClosure(fn *funcInfo) string {
	names := ix.closureNames(fn)
	found := ""
	ast.Inspect(fn.decl.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.ReturnStmt:
			if len(n.Results) == 1 {
				if lit, ok := unparen(n.Results[0]).(*ast.FuncLit); ok {
					if found != "" && found != names[lit] {
						found = "\x00"
					} else {
						found = names[lit]
					}
				}
			}
		}
		return true
	})
	if found == "\x00" {
		return ""
	}
	return found
}

// callee resolves the function a call invokes, when it is declared in the
// indexed tree.
func (a *analyzer) callee(e *ast.CallExpr) *funcInfo {
	switch f := unparen(e.Fun).(type) {
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
		x := a.eval(f.X)
		if x == nil || x.typ == nil {
			return nil
		}
		return x.typ.pkg.methods[x.typ.name][f.Sel.Name]
	case *ast.IndexExpr: // generic instantiation
		if id, ok := f.X.(*ast.Ident); ok {
			if _, local := a.lookup(id.Name); !local {
				return a.fi.pkg.funcs[id.Name]
			}
		}
	}
	return nil
}

// typeValue describes a variable of the given type.
func (a *analyzer) typeValue(t ast.Expr, fi *fileInfo) *value {
	kind, nt := a.ix.typeOf(t, fi, 0)
	mux := a.ix.isServeMux(t, fi, 0)
	if kind == "" && nt == nil && !mux {
		return nil
	}
	v := &value{typ: nt, mux: mux}
	switch kind {
	case ginKind:
		v.router = true
		v.prefix = "/"
	case chiKind, echoKind:
		v.router = true
		v.kind = kind
	}
	return v
}

// typeOf reports which router t is, if any (ginKind, chiKind, echoKind: a
// router type of that package, or a type embedding or aliasing one), and
// the named type it refers to in the indexed tree.
func (ix *indexer) typeOf(t ast.Expr, fi *fileInfo, depth int) (string, *namedType) {
	if depth > maxDepth {
		return "", nil
	}
	switch e := t.(type) {
	case *ast.ParenExpr:
		return ix.typeOf(e.X, fi, depth+1)
	case *ast.StarExpr:
		return ix.typeOf(e.X, fi, depth+1)
	case *ast.IndexExpr:
		return ix.typeOf(e.X, fi, depth+1)
	case *ast.IndexListExpr:
		return ix.typeOf(e.X, fi, depth+1)
	case *ast.Ident:
		if fi.ginDot && ginRouterTypes[e.Name] {
			if _, own := fi.pkg.types[e.Name]; !own {
				return ginKind, nil
			}
		}
		if ti := fi.pkg.types[e.Name]; ti != nil {
			return ix.namedRouter(ti, depth), &namedType{pkg: fi.pkg, name: e.Name}
		}
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		if !ok {
			return "", nil
		}
		ip, ok := fi.imports[id.Name]
		if !ok {
			return "", nil
		}
		switch {
		case ip == ginPath && ginRouterTypes[e.Sel.Name]:
			return ginKind, nil
		case ip == chiPath && chiRouterTypes[e.Sel.Name]:
			return chiKind, nil
		case ip == echoPath && echoRouterTypes[e.Sel.Name]:
			return echoKind, nil
		case ip == ginPath || ip == chiPath || ip == echoPath:
			return "", nil
		}
		if p := ix.byPath[ip]; p != nil {
			if ti := p.types[e.Sel.Name]; ti != nil {
				return ix.namedRouter(ti, depth), &namedType{pkg: p, name: e.Sel.Name}
			}
		}
	}
	return "", nil
}

// namedRouter reports which router a declared type is, if any: an alias or
// definition of one, or a struct or interface embedding one.
func (ix *indexer) namedRouter(ti *typeInfo, depth int) string {
	switch t := ti.spec.Type.(type) {
	case *ast.StructType:
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				if k, _ := ix.typeOf(f.Type, ti.file, depth+1); k != "" {
					return k
				}
			}
		}
		return ""
	case *ast.InterfaceType:
		for _, f := range t.Methods.List {
			if len(f.Names) == 0 {
				if k, _ := ix.typeOf(f.Type, ti.file, depth+1); k != "" {
					return k
				}
			}
		}
		return ""
	default:
		k, _ := ix.typeOf(t, ti.file, depth+1)
		return k
	}
}

// member evaluates x.name for a value of a named type: a field or a method
// value.
func (ix *indexer) member(nt *namedType, name string) *value {
	if m := nt.pkg.methods[nt.name][name]; m != nil {
		return &value{handler: ix.declLoc(m)}
	}
	ti := nt.pkg.types[nt.name]
	if ti == nil {
		return nil
	}
	st, ok := ti.spec.Type.(*ast.StructType)
	if !ok {
		return nil
	}
	for _, f := range st.Fields.List {
		match := false
		if len(f.Names) == 0 {
			n, _, _ := recvType(embeddedName(f.Type))
			match = n == name
		}
		for _, n := range f.Names {
			if n.Name == name {
				match = true
			}
		}
		if match {
			a := ix.newAnalyzer(ti.file, nil, 0)
			return a.typeValue(f.Type, ti.file)
		}
	}
	return nil
}

func embeddedName(t ast.Expr) ast.Expr {
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if s, ok := t.(*ast.SelectorExpr); ok {
		return s.Sel
	}
	return t
}

// pkgMember evaluates a package-level identifier.
func (ix *indexer) pkgMember(p *pkgInfo, name string, depth int) *value {
	if depth > maxDepth {
		return nil
	}
	if fn := p.funcs[name]; fn != nil {
		return &value{handler: ix.declLoc(fn)}
	}
	ref := p.consts[name]
	if ref == nil {
		ref = p.vars[name]
	}
	if ref == nil {
		return nil
	}
	a := ix.newAnalyzer(ref.file, nil, depth)
	var v *value
	if len(ref.spec.Values) == len(ref.spec.Names) {
		v = a.eval(ref.spec.Values[ref.idx])
	}
	if v == nil && ref.spec.Type != nil {
		v = a.typeValue(ref.spec.Type, ref.file)
	}
	return v
}

// foreignMember evaluates pkg.name for an imported package.
func (ix *indexer) foreignMember(ip, name string, depth int) *value {
	if p := ix.byPath[ip]; p != nil {
		if v := ix.pkgMember(p, name, depth); v != nil {
			return v
		}
		if p.funcs[name] == nil && p.consts[name] == nil && p.vars[name] == nil {
			return nil
		}
	}
	if ip == httpPath && name == "DefaultServeMux" {
		return &value{mux: true}
	}
	if ip == httpPath && strings.HasPrefix(name, "Method") && len(name) > len("Method") {
		return strValue(strings.ToUpper(name[len("Method"):]))
	}
	if token.IsExported(name) {
		l := Loc{Func: symPrefix(ip) + "." + name}
		return &value{handler: &l}
	}
	return nil
}
