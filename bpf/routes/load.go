// Loading: find the Go packages under a directory, parse them and work out
// their import paths and the symbol names a compiled binary gives them.

package routes

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type module struct {
	dir, path string
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
