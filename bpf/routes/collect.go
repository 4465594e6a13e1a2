// Collecting: a loaded package's top-level declarations, and the names and
// positions of its functions and closures.

package routes

import (
	"fmt"
	"go/ast"
	"go/token"
	"strings"
)

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
