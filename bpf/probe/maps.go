package probe

import (
	"errors"
	"reflect"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"outboundlens/bpf/records"
)

// lruMap is one of the probes' hash maps, LRU or not.
type lruMap struct {
	name string
	m    *ebpf.Map
	// inserts and deletes: its counters in lru_counts (-1: none), from
	// probe.bpf.c's enum lru_count (NAME_INSERTS, NAME_DELETES).
	inserts, deletes int
	evicted          uint64 // the evictions last reported
}

// lruMaps lists the loaded hash maps (LRU or not) by their names in
// probe.bpf.c, with their counters as the spec's enum lru_count names them.
func (p *Probe) lruMaps(spec *ebpf.CollectionSpec) []lruMap {
	counters := map[string]int{}
	var e *btf.Enum
	if spec.Types != nil && spec.Types.TypeByName("lru_count", &e) == nil {
		for _, v := range e.Values {
			counters[v.Name] = int(v.Value)
		}
	}
	index := func(name string) int {
		if i, ok := counters[name]; ok {
			return i
		}
		return -1
	}
	var out []lruMap
	v := reflect.ValueOf(&p.objs).Elem()
	for i := 0; i < v.NumField(); i++ {
		m, ok := v.Field(i).Interface().(*ebpf.Map)
		if !ok || m == nil || (m.Type() != ebpf.LRUHash && m.Type() != ebpf.Hash) {
			continue
		}
		name := v.Type().Field(i).Tag.Get("ebpf")
		upper := strings.ToUpper(name)
		out = append(out, lruMap{name: name, m: m, inserts: index(upper + "_INSERTS"), deletes: index(upper + "_DELETES")})
	}
	return out
}

// MapUse returns each hash map's entries (counted now), size and, for
// the maps whose inserts and deletes the probes count, its evictions so
// far: inserts - deletes - entries. While the entries are counted the
// probes go on: the inserts are read before the count and the deletes
// after it, so the figure is never more than the evictions made by the
// end of the count, and falls short at most by the keys inserted and
// deleted meanwhile (on a quiet map it is exact). It never decreases.
func (p *Probe) MapUse() []records.MapUse {
	out := make([]records.MapUse, 0, len(p.lru))
	for i := range p.lru {
		lm := &p.lru[i]
		u := records.MapUse{Map: lm.name, Max: lm.m.MaxEntries()}
		var ins, del uint64
		var err error
		if lm.inserts >= 0 {
			ins, err = p.lruCount(lm.inserts)
		}
		u.Entries = countEntries(lm.m)
		if err == nil && lm.deletes >= 0 {
			del, err = p.lruCount(lm.deletes)
		}
		if lm.inserts >= 0 && err == nil {
			if ins > del+u.Entries && ins-del-u.Entries > lm.evicted {
				lm.evicted = ins - del - u.Entries
			}
			n := lm.evicted
			u.Evictions = &n
		}
		out = append(out, u)
	}
	return out
}

func (p *Probe) lruCount(i int) (uint64, error) {
	return sumPerCPU(p.objs.LruCounts, uint32(i))
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
