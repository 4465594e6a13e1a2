package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// codePos is where a function or struct takes its records.Code.
type codePos struct {
	index int    // argument or field position
	field string // the field's name
}

// codeTakers are the functions and struct types with a records.Code parameter or field.
func codeTakers(files []*ast.File) map[string]codePos {
	isCode := func(e ast.Expr) bool { return name(e) == "Code" }
	out := map[string]codePos{}
	scan := func(key string, fields *ast.FieldList) {
		i := 0
		for _, fl := range fields.List {
			n := max(len(fl.Names), 1)
			if isCode(fl.Type) {
				field := ""
				if len(fl.Names) > 0 {
					field = fl.Names[0].Name
				}
				out[key] = codePos{i, field}
			}
			i += n
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				scan(n.Name.Name, n.Type.Params)
			case *ast.TypeSpec:
				if st, ok := n.Type.(*ast.StructType); ok {
					scan(n.Name.Name, st.Fields)
				}
			}
			return true
		})
	}
	return out
}

// name is an identifier's or a selector's last name (errorf, records.Code → Code).
func name(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.StarExpr:
		return name(e.X)
	case *ast.UnaryExpr:
		return name(e.X)
	}
	return ""
}

func literalCode(t *testing.T, fset *token.FileSet, e ast.Expr) {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		t.Errorf("%s: the code %s is a string: declare it in bpf/records/codes.go and use the constant", fset.Position(lit.Pos()), lit.Value)
	}
}

func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The TypeScript types, records.Any and the README's tables are what the Go
// declaration generates, byte for byte.
func TestCopiesAreCurrent(t *testing.T) {
	root := mustRoot(t)
	out, err := outputs(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range out {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from bpf/records: run 'go generate ./records' in bpf/ and commit", path)
		}
	}
}

// Every error code the helper or the extension produces is the declared
// constant, never a string of its own: a code added in one place only would
// be missing from the others.
func TestCodesAreTheConstants(t *testing.T) {
	root := mustRoot(t)
	c, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.codes) < 10 {
		t.Fatalf("found %d codes in bpf/records", len(c.codes))
	}
	codes := map[string]string{}
	for _, k := range c.codes {
		codes[k.value] = k.name
	}

	// Go, outside bpf/records (tests may spell out what they expect): no
	// string literal that is a code, and no string literal where a function
	// or struct takes a records.Code (a code not declared yet).
	fset := token.NewFileSet()
	var files []*ast.File
	err = filepath.WalkDir(filepath.Join(root, "bpf"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if rel, _ := filepath.Rel(filepath.Join(root, recordsDir), path); !strings.HasPrefix(rel, "..") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		files = append(files, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("looked at %d Go files", len(files))
	}
	takers := codeTakers(files)
	if len(takers) < 3 {
		t.Fatalf("found %d functions or structs that take a records.Code: %v", len(takers), takers)
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if v, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && codes[v] != "" {
					t.Errorf("%s: %s: use records.%s", fset.Position(n.Pos()), n.Value, codes[v])
				}
			case *ast.CallExpr:
				if pos, ok := takers[name(n.Fun)]; ok && pos.index < len(n.Args) {
					literalCode(t, fset, n.Args[pos.index])
				}
			case *ast.CompositeLit:
				if pos, ok := takers[name(n.Type)]; ok {
					for i, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && name(kv.Key) == pos.field {
							literalCode(t, fset, kv.Value)
						} else if !ok && i == pos.index {
							literalCode(t, fset, el)
						}
					}
				}
			}
			return true
		})
	}

	// TypeScript: quoted codes outside the generated file.
	quoted := regexp.MustCompile(`['"` + "`" + `]([A-Z][A-Z_]+)['"` + "`" + `]`)
	for _, dir := range []string{"src", "webview"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ts") || strings.HasSuffix(path, filepath.FromSlash(tsFile)) {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(src), "\n") {
				for _, m := range quoted.FindAllStringSubmatch(line, -1) {
					if codes[m[1]] != "" {
						t.Errorf("%s:%d: '%s': use ErrorCode.%s from shared/records", path, i+1, m[1], m[1])
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
