// Package routes statically indexes the Gin route registrations found in the
// Go source under a directory.
//
// The index is syntactic: files are parsed with go/parser and no type checking
// is done. Router values are tracked through local variables, function
// parameters, struct fields and package-level variables whose declared type
// is a Gin router (*gin.Engine, *gin.RouterGroup, gin.IRouter, gin.IRoutes),
// through gin.New / gin.Default and through Group calls. Group prefixes
// propagate into functions that receive a router as an argument.
package routes

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
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

// Route is one Gin route registration.
type Route struct {
	// Method is the HTTP method: GET, POST, ..., "ANY" for Any, or the
	// method argument of Handle.
	Method string `json:"method"`
	// Path is the full path template with group prefixes joined.
	Path string `json:"path"`
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

type module struct {
	dir, path string
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

type pkgInfo struct {
	name       string
	dir        string
	importPath string
	sym        string // symbol prefix in a binary
	files      []*fileInfo
	funcs      map[string]*funcInfo            // top-level functions
	methods    map[string]map[string]*funcInfo // receiver type -> name -> method
	types      map[string]*typeInfo
	consts     map[string]*specRef
	vars       map[string]*specRef
	all        []*funcInfo
}

type fileInfo struct {
	path    string
	f       *ast.File
	pkg     *pkgInfo
	imports map[string]string // local name -> import path
	ginDot  bool
}

type funcInfo struct {
	decl *ast.FuncDecl
	file *fileInfo
	sym  string
}

type typeInfo struct {
	spec *ast.TypeSpec
	file *fileInfo
}

type specRef struct {
	spec *ast.ValueSpec
	idx  int
	file *fileInfo
}

type namedType struct {
	pkg  *pkgInfo
	name string
}

// value is what is known about an expression.
type value struct {
	router  bool
	prefix  string
	typ     *namedType
	handler *Loc
	str     *string
}

func skipDir(name string) bool {
	return name == "vendor" || name == "testdata" || name == "node_modules" ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

func (ix *indexer) load(root string) error {
	byDir := map[string][]string{}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && skipDir(name) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(name, ".go") ||
			strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		dir := filepath.Dir(p)
		if _, ok := byDir[dir]; !ok {
			dirs = append(dirs, dir)
		}
		byDir[dir] = append(byDir[dir], p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		files := byDir[dir]
		sort.Strings(files)
		pkgs := map[string]*pkgInfo{}
		var order []string
		for _, fp := range files {
			f, err := parser.ParseFile(ix.fset, fp, nil, parser.SkipObjectResolution)
			if err != nil || f == nil || f.Name == nil {
				continue
			}
			name := f.Name.Name
			p := pkgs[name]
			if p == nil {
				p = &pkgInfo{
					name:    name,
					dir:     dir,
					funcs:   map[string]*funcInfo{},
					methods: map[string]map[string]*funcInfo{},
					types:   map[string]*typeInfo{},
					consts:  map[string]*specRef{},
					vars:    map[string]*specRef{},
				}
				p.importPath = ix.importPath(dir, name)
				if name == "main" {
					p.sym = "main"
				} else {
					p.sym = symPrefix(p.importPath)
				}
				pkgs[name] = p
				order = append(order, name)
			}
			p.files = append(p.files, newFileInfo(fp, f, p))
		}
		for _, name := range order {
			p := pkgs[name]
			ix.pkgs = append(ix.pkgs, p)
			if old, ok := ix.byPath[p.importPath]; !ok || old.name == "main" {
				ix.byPath[p.importPath] = p
			}
		}
	}
	for _, p := range ix.pkgs {
		p.collect()
	}
	// Import names of in-tree packages are their package names.
	for _, p := range ix.pkgs {
		for _, fi := range p.files {
			for _, imp := range fi.f.Imports {
				if imp.Name != nil {
					continue
				}
				ip, err := strconv.Unquote(imp.Path.Value)
				if err != nil {
					continue
				}
				if q := ix.byPath[ip]; q != nil && q.name != "main" {
					delete(fi.imports, defaultImportName(ip))
					fi.imports[q.name] = ip
				}
			}
		}
	}
	return nil
}

func newFileInfo(fp string, f *ast.File, p *pkgInfo) *fileInfo {
	fi := &fileInfo{path: fp, f: f, pkg: p, imports: map[string]string{}}
	for _, imp := range f.Imports {
		ip, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := defaultImportName(ip)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		switch name {
		case "_":
		case ".":
			if ip == ginPath {
				fi.ginDot = true
			}
		default:
			fi.imports[name] = ip
		}
	}
	return fi
}

// defaultImportName guesses the package name of an import path that is not
// in the indexed tree.
func defaultImportName(ip string) string {
	elems := strings.Split(ip, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && isMajorVersion(name) {
		name = elems[len(elems)-2]
	}
	if i := strings.Index(name, ".v"); i > 0 && isMajorVersion(name[i+1:]) {
		name = name[:i]
	}
	name = strings.TrimPrefix(name, "go-")
	name = strings.TrimSuffix(name, "-go")
	name = strings.TrimSuffix(name, ".go")
	return strings.ReplaceAll(name, "-", "_")
}

func isMajorVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	_, err := strconv.Atoi(s[1:])
	return err == nil
}

// symPrefix returns the symbol prefix the Go linker uses for a package path:
// dots in the last path element and a few special bytes are escaped.
func symPrefix(ip string) string {
	slash := strings.LastIndexByte(ip, '/')
	var b strings.Builder
	for i := 0; i < len(ip); i++ {
		c := ip[i]
		if c <= ' ' || c == '%' || c == '"' || c >= 0x7f || (c == '.' && i > slash) {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// importPath computes the import path of the package in dir from the nearest
// go.mod above it.
func (ix *indexer) importPath(dir, pkgName string) string {
	m := ix.moduleOf(dir)
	if m.path == "" {
		return pkgName
	}
	rel, err := filepath.Rel(m.dir, dir)
	if err != nil || rel == "." {
		return m.path
	}
	return m.path + "/" + filepath.ToSlash(rel)
}

func (ix *indexer) moduleOf(dir string) module {
	if m, ok := ix.modules[dir]; ok {
		return m
	}
	var m module
	if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
		if mp := modulePath(data); mp != "" {
			m = module{dir: dir, path: mp}
		}
	}
	if m.path == "" {
		if parent := filepath.Dir(dir); parent != dir {
			m = ix.moduleOf(parent)
		}
	}
	ix.modules[dir] = m
	return m
}

func modulePath(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || fields[0] != "module" {
			continue
		}
		if s, err := strconv.Unquote(fields[1]); err == nil {
			return s
		}
		return fields[1]
	}
	return ""
}

// collect records the package's top-level declarations.
func (p *pkgInfo) collect() {
	inits := 0
	for _, fi := range p.files {
		for _, d := range fi.f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				fn := &funcInfo{decl: d, file: fi}
				if d.Recv == nil || len(d.Recv.List) == 0 {
					if d.Name.Name == "init" {
						fn.sym = fmt.Sprintf("%s.init.%d", p.sym, inits)
						inits++
					} else {
						fn.sym = p.sym + "." + d.Name.Name
						p.funcs[d.Name.Name] = fn
					}
				} else {
					tname, ptr, generic := recvType(d.Recv.List[0].Type)
					if tname == "" {
						continue
					}
					if generic {
						tname += "[...]"
					}
					if ptr {
						fn.sym = fmt.Sprintf("%s.(*%s).%s", p.sym, tname, d.Name.Name)
					} else {
						fn.sym = fmt.Sprintf("%s.%s.%s", p.sym, tname, d.Name.Name)
					}
					tname = strings.TrimSuffix(tname, "[...]")
					if p.methods[tname] == nil {
						p.methods[tname] = map[string]*funcInfo{}
					}
					p.methods[tname][d.Name.Name] = fn
				}
				if d.Body != nil {
					p.all = append(p.all, fn)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						p.types[s.Name.Name] = &typeInfo{spec: s, file: fi}
					case *ast.ValueSpec:
						for i, n := range s.Names {
							ref := &specRef{spec: s, idx: i, file: fi}
							if d.Tok == token.CONST {
								p.consts[n.Name] = ref
							} else {
								p.vars[n.Name] = ref
							}
						}
					}
				}
			}
		}
	}
}

func recvType(e ast.Expr) (name string, ptr, generic bool) {
	for {
		switch t := e.(type) {
		case *ast.ParenExpr:
			e = t.X
		case *ast.StarExpr:
			ptr = true
			e = t.X
		case *ast.IndexExpr:
			generic = true
			e = t.X
		case *ast.IndexListExpr:
			generic = true
			e = t.X
		case *ast.Ident:
			return t.Name, ptr, generic
		default:
			return "", ptr, generic
		}
	}
}

// closureNames numbers the function literals of fn the way the compiler
// names closures: outer.func1, outer.func2, and outer.func1.1 for a closure
// inside a closure.
func (ix *indexer) closureNames(fn *funcInfo) map[*ast.FuncLit]string {
	if m, ok := ix.names[fn]; ok {
		return m
	}
	m := map[*ast.FuncLit]string{}
	var visit func(n ast.Node, outer string, top bool)
	visit = func(n ast.Node, outer string, top bool) {
		count := 0
		ast.Inspect(n, func(x ast.Node) bool {
			lit, ok := x.(*ast.FuncLit)
			if !ok {
				return true
			}
			count++
			var name string
			if top {
				name = fmt.Sprintf("%s.func%d", outer, count)
			} else {
				name = fmt.Sprintf("%s.%d", outer, count)
			}
			m[lit] = name
			visit(lit.Body, name, false)
			return false
		})
	}
	if fn.decl.Body != nil {
		visit(fn.decl.Body, fn.sym, true)
	}
	ix.names[fn] = m
	return m
}

func (ix *indexer) loc(fn string, pos token.Pos) Loc {
	p := ix.fset.Position(pos)
	return Loc{Func: fn, File: p.Filename, Line: p.Line, Column: p.Column}
}

func (ix *indexer) declLoc(fn *funcInfo) *Loc {
	l := ix.loc(fn.sym, fn.decl.Pos())
	return &l
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
		key := fmt.Sprintf("%s %s %s:%d:%d %s %s:%d", r.Method, r.Path,
			r.Registration.File, r.Registration.Line, r.Registration.Column,
			r.Handler.Func, r.Handler.File, r.Handler.Line)
		if ix.added[key] {
			continue
		}
		ix.added[key] = true
		ix.routes = append(ix.routes, r)
	}
}

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
}

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
	a.bindParams(d.Type, func(i int) (string, bool) {
		p, ok := ctx[i]
		return p, ok
	})
	a.walk(d.Body)
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
		if _, isRoute := routeMethods[sel.Sel.Name]; isRoute {
			if x := a.eval(sel.X); x != nil && x.router {
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
		if _, isPkg := a.pkgRef(sel.X); !isPkg {
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
	router, nt := a.ix.typeOf(t, fi, 0)
	if !router && nt == nil {
		return nil
	}
	v := &value{typ: nt}
	if router {
		v.router = true
		v.prefix = "/"
	}
	return v
}

// typeOf reports whether t is a Gin router type (or a type embedding or
// aliasing one) and the named type it refers to in the indexed tree.
func (ix *indexer) typeOf(t ast.Expr, fi *fileInfo, depth int) (bool, *namedType) {
	if depth > maxDepth {
		return false, nil
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
				return true, nil
			}
		}
		if ti := fi.pkg.types[e.Name]; ti != nil {
			return ix.namedRouter(ti, depth), &namedType{pkg: fi.pkg, name: e.Name}
		}
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		if !ok {
			return false, nil
		}
		ip, ok := fi.imports[id.Name]
		if !ok {
			return false, nil
		}
		if ip == ginPath {
			return ginRouterTypes[e.Sel.Name], nil
		}
		if p := ix.byPath[ip]; p != nil {
			if ti := p.types[e.Sel.Name]; ti != nil {
				return ix.namedRouter(ti, depth), &namedType{pkg: p, name: e.Sel.Name}
			}
		}
	}
	return false, nil
}

// namedRouter reports whether a declared type is a Gin router: an alias or
// definition of one, or a struct embedding one.
func (ix *indexer) namedRouter(ti *typeInfo, depth int) bool {
	switch t := ti.spec.Type.(type) {
	case *ast.StructType:
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				if r, _ := ix.typeOf(f.Type, ti.file, depth+1); r {
					return true
				}
			}
		}
		return false
	case *ast.InterfaceType:
		for _, f := range t.Methods.List {
			if len(f.Names) == 0 {
				if r, _ := ix.typeOf(f.Type, ti.file, depth+1); r {
					return true
				}
			}
		}
		return false
	default:
		r, _ := ix.typeOf(t, ti.file, depth+1)
		return r
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
	if ip == "net/http" && strings.HasPrefix(name, "Method") && len(name) > len("Method") {
		return strValue(strings.ToUpper(name[len("Method"):]))
	}
	if token.IsExported(name) {
		l := Loc{Func: symPrefix(ip) + "." + name}
		return &value{handler: &l}
	}
	return nil
}
