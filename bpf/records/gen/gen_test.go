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

	// Go: string literals outside bpf/records (tests may spell out what they expect).
	goFiles := 0
	err = filepath.WalkDir(filepath.Join(root, "bpf"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if filepath.Dir(path) == filepath.Join(root, recordsDir) || strings.HasPrefix(path, filepath.Join(root, recordsDir, "gen")) {
			return nil
		}
		goFiles++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && codes[v] != "" {
					t.Errorf("%s: %s: use records.%s", fset.Position(lit.Pos()), lit.Value, codes[v])
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if goFiles < 10 {
		t.Fatalf("looked at %d Go files", goFiles)
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
