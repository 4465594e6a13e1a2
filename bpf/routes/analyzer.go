// The analyzer walks one function body, tracking router values through
// scopes, and records the routes registered and the calls that pass a
// router on.

package routes

import (
	"go/ast"
	"go/token"
	"path"
	"strings"
)

// analyzer walks one function body.
type analyzer struct {
	ix      *indexer
	fi      *fileInfo
	fn      *funcInfo
	names   map[*ast.FuncLit]string
	scopes  []map[string]*value
	litArgs map[*ast.FuncLit][]*value
	edges   []edge
	routes  []Route
	depth   int
	// newPrefix: the prefix of the chi routers this function makes, when
	// its caller mounts what it returns (the context's newRouterArg).
	newPrefix string
	pending   []pendingRoute
}

// newRouterArg is the context key of the prefix a function's new routers
// are mounted under.
const newRouterArg = -1

func (ix *indexer) newAnalyzer(fi *fileInfo, fn *funcInfo, depth int) *analyzer {
	a := &analyzer{ix: ix, fi: fi, fn: fn, litArgs: map[*ast.FuncLit][]*value{}, depth: depth}
	if fn != nil {
		a.names = ix.closureNames(fn)
	}
	a.push()
	return a
}

func (ix *indexer) analyze(fn *funcInfo, ctx map[int]string) *analyzer {
	a := ix.newAnalyzer(fn.file, fn, 0)
	d := fn.decl
	if d.Recv != nil {
		for _, f := range d.Recv.List {
			v := a.typeValue(f.Type, a.fi)
			for _, n := range f.Names {
				a.bind(n.Name, v)
			}
		}
	}
	a.newPrefix = ctx[newRouterArg]
	a.bindParams(d.Type, func(i int) (string, bool) {
		p, ok := ctx[i]
		return p, ok
	})
	a.walk(d.Body)
	a.finish()
	return a
}

func (a *analyzer) bindParams(ft *ast.FuncType, arg func(int) (string, bool)) {
	if ft.Params == nil {
		return
	}
	idx := 0
	for _, f := range ft.Params.List {
		v := a.typeValue(f.Type, a.fi)
		if len(f.Names) == 0 {
			idx++
			continue
		}
		for _, n := range f.Names {
			pv := v
			if pv != nil && pv.router {
				if p, ok := arg(idx); ok {
					c := *pv
					c.prefix = p
					pv = &c
				}
			}
			a.bind(n.Name, pv)
			idx++
		}
	}
}

func (a *analyzer) push() { a.scopes = append(a.scopes, map[string]*value{}) }
func (a *analyzer) pop()  { a.scopes = a.scopes[:len(a.scopes)-1] }

func (a *analyzer) bind(name string, v *value) {
	if name == "_" || name == "" {
		return
	}
	a.scopes[len(a.scopes)-1][name] = v
}

func (a *analyzer) set(name string, v *value) {
	for i := len(a.scopes) - 1; i >= 0; i-- {
		if _, ok := a.scopes[i][name]; ok {
			a.scopes[i][name] = v
			return
		}
	}
}

func (a *analyzer) lookup(name string) (*value, bool) {
	for i := len(a.scopes) - 1; i >= 0; i-- {
		if v, ok := a.scopes[i][name]; ok {
			return v, true
		}
	}
	return nil, false
}

// pkgRef returns the import path when x names an imported package.
func (a *analyzer) pkgRef(x ast.Expr) (string, bool) {
	id, ok := x.(*ast.Ident)
	if !ok {
		return "", false
	}
	if _, local := a.lookup(id.Name); local {
		return "", false
	}
	if _, ok := a.fi.pkg.vars[id.Name]; ok {
		return "", false
	}
	ip, ok := a.fi.imports[id.Name]
	return ip, ok
}

func (a *analyzer) walk(body ast.Node) {
	if body == nil {
		return
	}
	var scoped []bool
	ast.Inspect(body, func(n ast.Node) bool {
		if n == nil {
			if scoped[len(scoped)-1] {
				a.pop()
			}
			scoped = scoped[:len(scoped)-1]
			return true
		}
		s := false
		switch n := n.(type) {
		case *ast.BlockStmt, *ast.IfStmt, *ast.ForStmt, *ast.SwitchStmt,
			*ast.TypeSwitchStmt, *ast.SelectStmt, *ast.CaseClause, *ast.CommClause:
			a.push()
			s = true
		case *ast.RangeStmt:
			a.push()
			s = true
			if n.Tok == token.DEFINE {
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						a.bind(id.Name, nil)
					}
				}
			}
		case *ast.FuncLit:
			a.push()
			s = true
			args := a.litArgs[n]
			a.bindParams(n.Type, func(i int) (string, bool) {
				if i < len(args) && args[i] != nil && args[i].router {
					return args[i].prefix, true
				}
				return "", false
			})
		case *ast.AssignStmt:
			a.assign(n)
		case *ast.DeclStmt:
			a.declStmt(n)
		case *ast.CallExpr:
			a.call(n)
		}
		scoped = append(scoped, s)
		return true
	})
}

func (a *analyzer) assign(n *ast.AssignStmt) {
	if n.Tok != token.DEFINE && n.Tok != token.ASSIGN {
		return
	}
	var vals []*value
	if len(n.Lhs) == len(n.Rhs) {
		for _, r := range n.Rhs {
			vals = append(vals, a.eval(r))
		}
	} else if len(n.Rhs) == 1 {
		if call, ok := unparen(n.Rhs[0]).(*ast.CallExpr); ok {
			vals = a.callResults(call)
		}
	}
	for i, l := range n.Lhs {
		id, ok := l.(*ast.Ident)
		if !ok {
			continue
		}
		var v *value
		if i < len(vals) {
			v = vals[i]
		}
		if n.Tok == token.DEFINE {
			a.bind(id.Name, v)
		} else {
			a.set(id.Name, v)
		}
	}
}

func (a *analyzer) declStmt(n *ast.DeclStmt) {
	g, ok := n.Decl.(*ast.GenDecl)
	if !ok || (g.Tok != token.VAR && g.Tok != token.CONST) {
		return
	}
	for _, s := range g.Specs {
		vs, ok := s.(*ast.ValueSpec)
		if !ok {
			continue
		}
		for i, name := range vs.Names {
			var v *value
			if i < len(vs.Values) && len(vs.Values) == len(vs.Names) {
				v = a.eval(vs.Values[i])
			}
			if v == nil && vs.Type != nil {
				v = a.typeValue(vs.Type, a.fi)
			}
			a.bind(name.Name, v)
		}
	}
}

// call handles route registrations and calls that pass routers on.
func (a *analyzer) call(n *ast.CallExpr) {
	if lit, ok := unparen(n.Fun).(*ast.FuncLit); ok {
		var args []*value
		for _, arg := range n.Args {
			args = append(args, a.eval(arg))
		}
		a.litArgs[lit] = args
		return
	}
	if sel, ok := unparen(n.Fun).(*ast.SelectorExpr); ok {
		if a.muxRegistration(n, sel) || a.grpcRegistration(n, sel) {
			return
		}
		if _, isPkg := a.pkgRef(sel.X); !isPkg {
			if x := a.eval(sel.X); x != nil && x.router && x.kind != "" && a.routerCall(n, sel.Sel.Name, x) {
				return
			}
		}
		if _, isRoute := routeMethods[sel.Sel.Name]; isRoute {
			if x := a.eval(sel.X); x != nil && x.router && x.kind == "" {
				a.register(n, sel.Sel.Name, x.prefix)
				return
			}
		}
	}
	target := a.callee(n)
	if target == nil {
		return
	}
	ctx := map[int]string{}
	for i, arg := range n.Args {
		if v := a.eval(arg); v != nil && v.router {
			ctx[i] = v.prefix
		}
	}
	if len(ctx) > 0 {
		a.edges = append(a.edges, edge{fn: target, ctx: ctx})
	}
}

func (a *analyzer) register(n *ast.CallExpr, name, prefix string) {
	var methods []string
	var rel string
	var handlers []ast.Expr
	switch name {
	case "Handle":
		if len(n.Args) < 3 {
			return
		}
		m, ok := a.str(n.Args[0])
		if !ok {
			return
		}
		methods = []string{m}
		if rel, ok = a.str(n.Args[1]); !ok {
			return
		}
		handlers = n.Args[2:]
	case "Match":
		if len(n.Args) < 3 {
			return
		}
		cl, ok := unparen(n.Args[0]).(*ast.CompositeLit)
		if !ok {
			return
		}
		for _, e := range cl.Elts {
			m, ok := a.str(e)
			if !ok {
				return
			}
			methods = append(methods, m)
		}
		if rel, ok = a.str(n.Args[1]); !ok {
			return
		}
		handlers = n.Args[2:]
	default:
		if len(n.Args) < 2 {
			return
		}
		var ok bool
		if rel, ok = a.str(n.Args[0]); !ok {
			return
		}
		methods = []string{routeMethods[name]}
		handlers = n.Args[1:]
	}
	if n.Ellipsis.IsValid() {
		// h... : the chain is a slice; its last element is not known.
		return
	}
	h := a.handler(handlers[len(handlers)-1])
	reg := a.ix.loc("", n.Pos())
	if a.fn != nil {
		reg.Func = a.fn.sym
	}
	full := joinPaths(prefix, rel)
	for _, m := range methods {
		a.routes = append(a.routes, Route{Method: m, Path: full, Handler: h, Registration: reg})
	}
}

// joinPaths joins like gin's RouterGroup.calculateAbsolutePath.
func joinPaths(abs, rel string) string {
	if abs == "" {
		abs = "/"
	}
	if rel == "" {
		return abs
	}
	final := path.Join(abs, rel)
	if strings.HasSuffix(rel, "/") && !strings.HasSuffix(final, "/") {
		return final + "/"
	}
	return final
}

func (a *analyzer) handler(e ast.Expr) Loc {
	if v := a.eval(e); v != nil && v.handler != nil {
		return *v.handler
	}
	return a.ix.loc("", e.Pos())
}

func (a *analyzer) str(e ast.Expr) (string, bool) {
	if v := a.eval(e); v != nil && v.str != nil {
		return *v.str, true
	}
	return "", false
}
