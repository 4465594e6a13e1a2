package records

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// Strings that encoding/json escapes, or does not, in every way it can.
var trickyStrings = []string{"", "plain", `q"uote\back`, "<a&b>", "\x00\x01\b\f\n\r\t\x1f\x7f", "\u2028\u2029", "é中😀",
	"bad \xff\xfe utf8 \xe2\x82", "trailing \xe2", "GET /v1/charges?x=1"}

func randomString(r *rand.Rand) string {
	if r.Intn(3) > 0 {
		return trickyStrings[r.Intn(len(trickyStrings))]
	}
	b := make([]byte, r.Intn(24))
	r.Read(b)
	return string(b)
}

// fill sets every field of v to a random value: empty or not, nil or not.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.Intn(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, r.Int63(), -r.Int63()}[r.Intn(5)])
	case reflect.Uint64, reflect.Uint32:
		v.SetUint([]uint64{0, 1, r.Uint64()}[r.Intn(3)] & (1<<uint(v.Type().Bits()) - 1))
	case reflect.Pointer:
		if r.Intn(3) == 0 || depth > 3 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if r.Intn(4) == 0 {
			return // nil
		}
		n := r.Intn(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if r.Intn(4) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := r.Intn(4); i > 0; i-- {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth)
			}
		}
	default:
		panic("fill: no random " + v.Type().String() + ": add it here")
	}
}

// Each type's generated AppendJSON writes what encoding/json writes.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, typ := range jsonTypes {
		for i := 0; i < 3000; i++ {
			v := reflect.New(reflect.TypeOf(typ).Elem())
			if i > 0 {
				fill(r, v.Elem(), 0)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v.Interface()); err != nil {
				t.Fatal(err)
			}
			got := v.Interface().(interface{ AppendJSON([]byte) []byte }).AppendJSON(nil)
			if !bytes.Equal(append(got, '\n'), want.Bytes()) {
				t.Fatalf("%T:\n got %s\nwant %s", v.Interface(), got, want.Bytes())
			}
		}
	}
}

// A sealed Loc writes what encoding/json writes for it, in a record too.
func TestSealedLoc(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 3000; i++ {
		var o Outbound
		fill(r, reflect.ValueOf(&o).Elem(), 0)
		o.CallSite = &Loc{}
		fill(r, reflect.ValueOf(o.CallSite).Elem(), 0)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&o); err != nil {
			t.Fatal(err)
		}
		o.CallSite.Seal()
		for i := range o.CallPath {
			o.CallPath[i].Seal()
		}
		if o.CallSite.enc == nil {
			t.Fatal("Seal kept no JSON")
		}
		if got := o.AppendJSON(nil); !bytes.Equal(append(got, '\n'), want.Bytes()) {
			t.Fatalf("got %s\nwant %s", got, want.Bytes())
		}
	}
}

// TestAppendStringAtEveryOffset puts each byte encoding/json treats apart
// at every place in the 8-byte words appendString tests at once.
func TestAppendStringAtEveryOffset(t *testing.T) {
	special := []string{`"`, `\`, "\x00", "\x1f", "\x20", "\x7f", "\x80", "\xff", "é", "\u2028", "\xe2\x82", "<"}
	for _, p := range special {
		for before := 0; before < 17; before++ {
			for after := 0; after < 10; after++ {
				s := strings.Repeat("a", before) + p + strings.Repeat("/", after) + p
				var want bytes.Buffer
				enc := json.NewEncoder(&want)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(s); err != nil {
					t.Fatal(err)
				}
				if got := appendString(nil, s); !bytes.Equal(append(got, '\n'), want.Bytes()) {
					t.Fatalf("%q: got %s, want %s", s, got, want.Bytes())
				}
			}
		}
	}
}
