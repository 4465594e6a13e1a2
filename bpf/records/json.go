package records

import (
	"sort"
	"unicode/utf8"
)

// The helpers of the generated AppendJSON methods (json_gen.go): the same
// bytes as encoding/json with SetEscapeHTML(false).

func appendKey(b []byte, first *bool, key string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, key...)
}

const hexDigits = "0123456789abcdef"

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun is how many bytes at the start of s, in whole words of 8, a
// JSON string holds as they are (printable ASCII but '"' and '\\'): most
// of a record's strings are paths and names, tested a word at a time.
func plainRun(s string) int {
	n := 0
	for ; n+8 <= len(s); n += 8 {
		x := uint64(s[n]) | uint64(s[n+1])<<8 | uint64(s[n+2])<<16 | uint64(s[n+3])<<24 |
			uint64(s[n+4])<<32 | uint64(s[n+5])<<40 | uint64(s[n+6])<<48 | uint64(s[n+7])<<56
		// a byte < 0x20, a byte with its high bit set, a '"' or a '\\'
		if (x-ones*0x20)&^x&highs != 0 || x&highs != 0 || zeroByte(x^(ones*'"')) || zeroByte(x^(ones*'\\')) {
			break
		}
	}
	return n
}

// zeroByte reports whether one of x's bytes is 0.
func zeroByte(x uint64) bool { return (x-ones)&^x&highs != 0 }

// appendString quotes s as encoding/json does: invalid UTF-8 becomes
// U+FFFD; control characters, U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if len(s)-i >= 8 {
			if n := plainRun(s[i:]); n > 0 {
				i += n
				continue
			}
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendStringMap writes a map with its keys sorted, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// Seal makes l's JSON once, for AppendJSON to copy from then on: for a
// Loc many records share, never changed after.
func (l *Loc) Seal() *Loc {
	l.enc = nil
	l.enc = l.AppendJSON(nil)
	return l
}
