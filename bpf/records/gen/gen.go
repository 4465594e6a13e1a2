// Command gen derives the record contract's copies from bpf/records: the
// TypeScript types and error codes (src/shared/records.gen.ts), the README's
// record and error-code tables, records.Any and the types' AppendJSON. Run it with
// `go generate ./records` in bpf/; its test fails when a copy differs.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Where the copies go, relative to the repository root.
const (
	recordsDir = "bpf/records"
	tsFile     = "src/shared/records.gen.ts"
	anyFile    = "bpf/records/any_gen.go"
	jsonFile   = "bpf/records/json_gen.go"
	readmeFile = "README.md"
)

type field struct {
	goName, json, goType, doc string
	omitempty                 bool
	literal                   string // the type field's value: "ready", …
}

type recordType struct {
	name, doc string
	fields    []field
	sealed    bool // has an unexported enc []byte: AppendJSON writes it when set
}

type code struct{ name, value, doc string }

type contract struct {
	types []recordType // in declaration order: Loc, then the records
	codes []code
}

// repoRoot is the nearest directory above the working directory holding bpf/records.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, recordsDir, "records.go")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory", recordsDir)
		}
		dir = parent
	}
}

// load reads the contract out of bpf/records' source (the comments are part of it).
func load(root string) (*contract, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range []string{"records.go", "codes.go"} {
		f, err := parser.ParseFile(fset, filepath.Join(root, recordsDir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	c := &contract{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					st, ok := s.Type.(*ast.StructType)
					if !ok {
						continue
					}
					rt := recordType{name: s.Name.Name, doc: docText(gd.Doc)}
					for _, fl := range st.Fields.List {
						if !fl.Names[0].IsExported() {
							// not in the contract: the JSON a sealed value keeps
							rt.sealed = rt.sealed || fl.Names[0].Name == "enc"
							continue
						}
						rt.fields = append(rt.fields, newField(fset, fl))
					}
					c.types = append(c.types, rt)
				case *ast.ValueSpec:
					if gd.Tok != token.CONST {
						continue
					}
					for i, n := range s.Names {
						lit, ok := s.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							return nil, fmt.Errorf("%s: a code's value must be a string literal", fset.Position(n.Pos()))
						}
						v, _ := strconv.Unquote(lit.Value)
						doc := docText(s.Comment)
						if doc == "" {
							doc = docText(s.Doc)
						}
						if doc == "" {
							return nil, fmt.Errorf("%s: code %s needs a comment saying when it is written", fset.Position(n.Pos()), v)
						}
						c.codes = append(c.codes, code{n.Name, v, doc})
					}
				}
			}
		}
	}
	return c, nil
}

func newField(fset *token.FileSet, fl *ast.Field) field {
	var buf bytes.Buffer
	format.Node(&buf, fset, fl.Type)
	f := field{goName: fl.Names[0].Name, goType: buf.String(), doc: docText(fl.Comment)}
	if fl.Tag != nil {
		tag, _ := strconv.Unquote(fl.Tag.Value)
		name, opts, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		f.json, f.omitempty = name, strings.Contains(opts, "omitempty")
		f.literal = reflect.StructTag(tag).Get("record")
	}
	return f
}

func docText(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// records are the types with a type field, the ones the helper writes.
func (c *contract) records() []recordType {
	var out []recordType
	for _, t := range c.types {
		if t.literal() != "" {
			out = append(out, t)
		}
	}
	return out
}

func (t recordType) literal() string {
	for _, f := range t.fields {
		if f.json == "type" {
			return f.literal
		}
	}
	return ""
}

// ---- TypeScript ----

func tsName(goName string) string {
	switch {
	case goName == "Loc":
		return "SourceLocation"
	case strings.HasSuffix(goName, "Record"):
		return goName
	}
	return goName + "Record"
}

// tsTypes are the TypeScript types of the Go types records use.
var tsTypes = map[string]string{
	"string":            "string",
	"Code":              "ErrorCode",
	"bool":              "boolean",
	"int":               "number",
	"int64":             "number",
	"uint64":            "number",
	"[]string":          "string[]",
	"map[string]string": "Record<string, string>",
	"Loc":               "SourceLocation",
	"[]uint64":          "number[]",
	"[]ProbeSite":       "ProbeSiteRecord[]",
	"[]ProgramRuns":     "ProgramRunsRecord[]",
	"[]MapUse":          "MapUseRecord[]",
	"uint32":            "number",
	"[]Loc":             "SourceLocation[]",
	"Op":                "OpRecord",
	"Remote":            "RemoteRecord",
}

// tsType maps a field's Go type; optional says the key may be absent (omitempty).
func tsType(f field) (ts string, optional bool) {
	nullable := strings.HasPrefix(f.goType, "*")
	ts, ok := tsTypes[strings.TrimPrefix(f.goType, "*")]
	if !ok {
		panic("gen: no TypeScript type for Go type " + f.goType + " (field " + f.goName + "): add one to tsTypes")
	}
	if f.omitempty {
		return ts, true
	}
	if nullable {
		ts += " | null"
	}
	return ts, false
}

func (c *contract) typescript() []byte {
	var b bytes.Buffer
	b.WriteString("// Generated by `go generate ./records` in bpf/ from bpf/records (the record\n")
	b.WriteString("// contract v1, declared once in Go): do not edit.\n")
	for _, t := range c.types {
		fmt.Fprintf(&b, "\n/** %s */\nexport interface %s {\n", t.doc, tsName(t.name))
		for _, f := range t.fields {
			if f.doc != "" {
				fmt.Fprintf(&b, "  /** %s */\n", f.doc)
			}
			if f.literal != "" {
				fmt.Fprintf(&b, "  %s: '%s';\n", f.json, f.literal)
				continue
			}
			ts, opt := tsType(f)
			q := ""
			if opt {
				q = "?"
			}
			fmt.Fprintf(&b, "  %s%s: %s;\n", f.json, q, ts)
		}
		b.WriteString("}\n")
	}
	var names, lits []string
	for _, t := range c.records() {
		names = append(names, tsName(t.name))
		lits = append(lits, "'"+t.literal()+"'")
	}
	fmt.Fprintf(&b, "\nexport type TraceRecord = %s;\n", strings.Join(names, " | "))
	fmt.Fprintf(&b, "\n/** The record types, as their type field names them. */\nexport const RECORD_TYPES = [%s] as const;\n", strings.Join(lits, ", "))
	b.WriteString("\n/** The error record's codes. */\nexport const ErrorCode = {\n")
	for _, c := range c.codes {
		fmt.Fprintf(&b, "  /** %s */\n  %s: '%s',\n", c.doc, c.value, c.value)
	}
	b.WriteString("} as const;\nexport type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];\n")
	return b.Bytes()
}

// ---- records.Any ----

func (c *contract) anyGo() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by `go generate ./records`; DO NOT EDIT.\n\npackage records\n\n")
	b.WriteString("// Any has the fields of every record, for decoding a stream of mixed\n// records: read Type, then the fields that type has.\ntype Any struct {\n")
	byJSON := map[string]field{}
	byGo := map[string]field{}
	for _, t := range c.records() {
		for _, f := range t.fields {
			if prev, ok := byJSON[f.json]; ok {
				if prev.goName != f.goName || prev.goType != f.goType {
					return nil, fmt.Errorf("%q is %s %s in one record and %s %s in another: one name, one meaning", f.json, prev.goName, prev.goType, f.goName, f.goType)
				}
				continue
			}
			if prev, ok := byGo[f.goName]; ok {
				return nil, fmt.Errorf("Go field %s is %q in one record and %q in another", f.goName, prev.json, f.json)
			}
			byJSON[f.json], byGo[f.goName] = f, f
			fmt.Fprintf(&b, "\t%s %s `json:%q`\n", f.goName, f.goType, f.json)
		}
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// ---- AppendJSON ----

// jsonGo writes each type's AppendJSON: what encoding/json writes for it
// (HTML characters not escaped), without reflection. The helper writes a
// record per traced request; encoding/json was most of its CPU time.
func (c *contract) jsonGo() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by `go generate ./records`; DO NOT EDIT.\n\npackage records\n\nimport \"strconv\"\n")
	for _, t := range c.types {
		fmt.Fprintf(&b, "\n// AppendJSON appends r as encoding/json marshals it, with SetEscapeHTML(false).\nfunc (r *%s) AppendJSON(b []byte) []byte {\n", t.name)
		if t.sealed {
			b.WriteString("\tif r.enc != nil {\n\t\treturn append(b, r.enc...)\n\t}\n")
		}
		b.WriteString("\tfirst := true\n\tb = append(b, '{')\n")
		for _, f := range t.fields {
			v := "r." + f.goName
			enc, empty, err := jsonValue(f.goType, v)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %v", t.name, f.goName, err)
			}
			key := fmt.Sprintf("b = appendKey(b, &first, %q)\n", strconv.Quote(f.json)+":")
			if f.omitempty {
				fmt.Fprintf(&b, "\tif !(%s) {\n\t\t%s\t\t%s\n\t}\n", empty, key, enc)
			} else {
				fmt.Fprintf(&b, "\t%s\t%s\n", key, enc)
			}
		}
		b.WriteString("\treturn append(b, '}')\n}\n")
	}
	b.WriteString("\n// jsonTypes has a value of each type, for the test that holds AppendJSON to encoding/json.\nvar jsonTypes = []any{")
	for _, t := range c.types {
		fmt.Fprintf(&b, "&%s{}, ", t.name)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

// jsonValue is the statement appending v (of Go type typ) to b, and the
// expression that says v is empty (for omitempty).
func jsonValue(typ, v string) (enc, empty string, err error) {
	switch typ {
	case "string":
		return fmt.Sprintf("b = appendString(b, %s)", v), v + ` == ""`, nil
	case "Code":
		return fmt.Sprintf("b = appendString(b, string(%s))", v), v + ` == ""`, nil
	case "bool":
		return fmt.Sprintf("b = strconv.AppendBool(b, %s)", v), "!" + v, nil
	case "int", "int64":
		return fmt.Sprintf("b = strconv.AppendInt(b, int64(%s), 10)", v), v + " == 0", nil
	case "uint64", "uint32":
		return fmt.Sprintf("b = strconv.AppendUint(b, uint64(%s), 10)", v), v + " == 0", nil
	case "map[string]string":
		return fmt.Sprintf("b = appendStringMap(b, %s)", v), "len(" + v + ") == 0", nil
	}
	if elem, ok := strings.CutPrefix(typ, "*"); ok {
		inner, _, err := jsonValue(elem, "(*"+v+")")
		if err != nil {
			return "", "", err
		}
		if isStruct(elem) {
			inner = fmt.Sprintf("b = %s.AppendJSON(b)", v)
		}
		return fmt.Sprintf("if %s == nil {\nb = append(b, \"null\"...)\n} else {\n%s\n}", v, inner), v + " == nil", nil
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		inner, _, err := jsonValue(elem, v+"[i]")
		if err != nil {
			return "", "", err
		}
		if isStruct(elem) {
			inner = fmt.Sprintf("b = %s[i].AppendJSON(b)", v)
		}
		return fmt.Sprintf("if %s == nil {\nb = append(b, \"null\"...)\n} else {\nb = append(b, '[')\nfor i := range %s {\nif i > 0 {\nb = append(b, ',')\n}\n%s\n}\nb = append(b, ']')\n}", v, v, inner), "len(" + v + ") == 0", nil
	}
	if isStruct(typ) {
		return fmt.Sprintf("b = %s.AppendJSON(b)", v), "false", nil
	}
	return "", "", fmt.Errorf("no JSON encoding for Go type %s: add one to jsonValue", typ)
}

// isStruct: the records' own struct types are exported names.
func isStruct(typ string) bool {
	return typ != "" && typ[0] >= 'A' && typ[0] <= 'Z' && typ != "Code"
}

// ---- README ----

// The README's generated sections: between a begin marker and endMarker.
const (
	fieldsBegin = "<!-- record fields: go generate ./records in bpf/ -->"
	codesBegin  = "<!-- error codes: go generate ./records in bpf/ -->"
	endMarker   = "<!-- end of generated section -->"
)

func (c *contract) readmeFields() string {
	var b strings.Builder
	b.WriteString("| record | field | type | |\n| --- | --- | --- | --- |\n")
	for _, t := range c.records() {
		name := "`" + t.literal() + "`"
		for _, f := range t.fields {
			if f.literal != "" {
				continue
			}
			ts, opt := tsType(f)
			ts = "`" + strings.ReplaceAll(ts, " | ", "` or `") + "`"
			ts = strings.ReplaceAll(ts, "SourceLocation", c.shape("Loc"))
			if opt {
				ts += ", may be absent"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", name, f.json, ts, f.doc)
			name = ""
		}
	}
	return b.String()
}

// shape is a type's fields in brief: {func, file, line}.
func (c *contract) shape(goName string) string {
	for _, t := range c.types {
		if t.name == goName {
			var names []string
			for _, f := range t.fields {
				names = append(names, f.json)
			}
			return "{" + strings.Join(names, ", ") + "}"
		}
	}
	panic("gen: no type " + goName)
}

func (c *contract) readmeCodes() string {
	var b strings.Builder
	b.WriteString("| code | when |\n| --- | --- |\n")
	for _, c := range c.codes {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c.value, c.doc)
	}
	return b.String()
}

func replaceSection(doc, begin, body string) (string, error) {
	i := strings.Index(doc, begin)
	if i < 0 {
		return "", fmt.Errorf("%s has no %q", readmeFile, begin)
	}
	j := strings.Index(doc[i:], endMarker)
	if j < 0 {
		return "", fmt.Errorf("%s: %q has no %q after it", readmeFile, begin, endMarker)
	}
	return doc[:i] + begin + "\n" + body + doc[i+j:], nil
}

// ---- all of it ----

// outputs are the derived files (paths relative to root) and what they must hold.
func outputs(root string) (map[string][]byte, error) {
	c, err := load(root)
	if err != nil {
		return nil, err
	}
	anyGo, err := c.anyGo()
	if err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(root, readmeFile))
	if err != nil {
		return nil, err
	}
	doc, err := replaceSection(string(readme), fieldsBegin, c.readmeFields())
	if err != nil {
		return nil, err
	}
	if doc, err = replaceSection(doc, codesBegin, c.readmeCodes()); err != nil {
		return nil, err
	}
	jsonGo, err := c.jsonGo()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{tsFile: c.typescript(), anyFile: anyGo, jsonFile: jsonGo, readmeFile: []byte(doc)}, nil
}

func main() {
	root, err := repoRoot()
	if err == nil {
		var out map[string][]byte
		if out, err = outputs(root); err == nil {
			paths := make([]string, 0, len(out))
			for p := range out {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				if err = os.WriteFile(filepath.Join(root, p), out[p], 0o644); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "records/gen:", err)
		os.Exit(1)
	}
}
