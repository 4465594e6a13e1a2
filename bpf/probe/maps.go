package probe

import (
	"errors"
	"reflect"

	"github.com/cilium/ebpf"

	"outboundlens/bpf/records"
)

// lruMap is one of the probes' LRU hash maps.
type lruMap struct {
	name string
	m    *ebpf.Map
	// inserts and deletes: its counters in lru_counts, where the probes
	// count them (counted: false otherwise).
	counted          bool
	inserts, deletes probeLruCount
}

// counted are the LRU maps whose inserts and deletes the probes count.
var counted = map[string][2]probeLruCount{
	"goroutine_request": {probeLruCountGR_INSERTS, probeLruCountGR_DELETES},
}

// lruMaps lists the loaded LRU hash maps by their names in probe.bpf.c.
func (p *Probe) lruMaps() []lruMap {
	var out []lruMap
	v := reflect.ValueOf(&p.objs.probeMaps).Elem()
	for i := 0; i < v.NumField(); i++ {
		m, ok := v.Field(i).Interface().(*ebpf.Map)
		if !ok || m == nil || m.Type() != ebpf.LRUHash {
			continue
		}
		lm := lruMap{name: v.Type().Field(i).Tag.Get("ebpf"), m: m}
		if c, ok := counted[lm.name]; ok {
			lm.counted, lm.inserts, lm.deletes = true, c[0], c[1]
		}
		out = append(out, lm)
	}
	return out
}

// MapUse returns each LRU hash map's entries (counted now), size and, for
// the maps whose inserts and deletes the probes count, its evictions so
// far: inserts - deletes - entries. The counters are read before the
// entries, so an insert made while the entries are counted can make the
// figure smaller by one, never larger.
func (p *Probe) MapUse() []records.MapUse {
	if p.lru == nil {
		p.lru = p.lruMaps()
	}
	out := make([]records.MapUse, 0, len(p.lru))
	for _, lm := range p.lru {
		u := records.MapUse{Map: lm.name, Max: lm.m.MaxEntries()}
		var ins, del uint64
		var err error
		if lm.counted {
			ins, err = p.lruCount(lm.inserts)
			if err == nil {
				del, err = p.lruCount(lm.deletes)
			}
		}
		u.Entries = countEntries(lm.m)
		if lm.counted && err == nil {
			n := ins - del - u.Entries
			if ins < del+u.Entries {
				n = 0
			}
			u.Evictions = &n
		}
		out = append(out, u)
	}
	return out
}

func (p *Probe) lruCount(i probeLruCount) (uint64, error) {
	var per []uint64
	if err := p.objs.LruCounts.Lookup(uint32(i), &per); err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range per {
		n += c
	}
	return n, nil
}

// countEntries counts a hash map's keys, 4096 a system call (one at a time
// where the kernel has no batch lookups).
func countEntries(m *ebpf.Map) uint64 {
	const batch = 4096
	bytes := func(n uint32) any {
		return reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(int(n), reflect.TypeFor[byte]())), batch, batch).Interface()
	}
	keys, values := bytes(m.KeySize()), bytes(m.ValueSize())
	var cursor ebpf.MapBatchCursor
	var n uint64
	for {
		k, err := m.BatchLookup(&cursor, keys, values, nil)
		n += uint64(k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return n
		}
		if err != nil {
			break
		}
	}
	n = 0
	key, value := make([]byte, m.KeySize()), make([]byte, m.ValueSize())
	for it := m.Iterate(); it.Next(&key, &value); {
		n++
	}
	return n
}
