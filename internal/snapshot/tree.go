package snapshot

import (
	"iter"
	"slices"
	"strings"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// Tree is a snapshot: rel_path (slash-separated, relative to the watch root,
// no leading slash) → entry, grouped by parent directory. The zero value is
// not usable; call New. A Tree is not safe for concurrent writes; reads may
// run concurrently with each other. It keeps no key string it is given (a
// key may be a substring of a whole listing): names are copied into the
// directory's bytes, and the directory and link keys it stores are copies.
type Tree struct {
	dirs  map[string]*dir
	links map[string]string // symlink targets by key
	n     int
	bytes int64
}

// dir holds one directory's entries sorted by name: name i is
// names[ends[i-1]:ends[i]] (from 0 for i = 0).
type dir struct {
	names []byte
	ends  []uint32
	attrs []attr
}

// attr is an Entry without its key and Link: 24 bytes, no pointers.
type attr struct {
	size  int64
	mtime int64
	mode  uint32
	typ   diff.EntryType
	link  bool // Link is set: it is in Tree.links
}

// New returns an empty Tree.
func New() *Tree {
	return &Tree{dirs: map[string]*dir{}, links: map[string]string{}}
}

// FromMap builds a Tree holding the entries of m.
func FromMap(m diff.Snapshot) *Tree {
	t := New()
	t.Apply(m, nil)
	return t
}

// Map returns the entries as a map (for tests and small trees).
func (t *Tree) Map() diff.Snapshot {
	m := make(diff.Snapshot, t.n)
	for k, e := range t.All() {
		m[k] = e
	}
	return m
}

// Len is the number of entries.
func (t *Tree) Len() int { return t.n }

// Bytes is the sum of the entries' sizes.
func (t *Tree) Bytes() int64 { return t.bytes }

// DirLen is the number of entries whose parent directory is dir ("" for the
// root).
func (t *Tree) DirLen(dir string) int {
	if d := t.dirs[dir]; d != nil {
		return len(d.ends)
	}
	return 0
}

// Get returns the entry stored for key.
func (t *Tree) Get(key string) (diff.Entry, bool) {
	dn, name := split(key)
	d := t.dirs[dn]
	if d == nil {
		return diff.Entry{}, false
	}
	i, ok := d.find(name)
	if !ok {
		return diff.Entry{}, false
	}
	return t.entry(key, d.attrs[i]), true
}

// Has reports whether key is stored.
func (t *Tree) Has(key string) bool {
	dn, name := split(key)
	d := t.dirs[dn]
	if d == nil {
		return false
	}
	_, ok := d.find(name)
	return ok
}

// Set stores e for key. Adding names in increasing order within each
// directory (as a sorted listing or a sorted load does) appends; anything
// else inserts. For many changes at once, Apply is cheaper.
func (t *Tree) Set(key string, e diff.Entry) {
	dn, name := split(key)
	d := t.dirs[dn]
	if d == nil {
		d = &dir{}
		t.dirs[strings.Clone(dn)] = d
	}
	i, ok := d.find(name)
	if ok {
		t.bytes -= d.attrs[i].size
		d.attrs[i] = attrOf(e)
	} else {
		d.insert(i, name, attrOf(e))
		t.n++
	}
	t.bytes += e.Size
	t.setLink(key, e)
}

// Delete removes key; it is a no-op when key is not stored.
func (t *Tree) Delete(key string) {
	t.Apply(nil, []string{key})
}

// change is one name of one directory to remove or set (Apply).
type change struct {
	name string
	e    diff.Entry
	del  bool
}

// inPlaceChanges is the most changes to one directory Apply makes in place;
// more, and the directory is rebuilt once. In place, a modify costs a
// binary search and a create or delete one move of the arrays' tail, with
// no allocation: a flat directory of a million files that sees a few
// changes per scan is not copied whole every scan.
const inPlaceChanges = 16

// Apply removes the keys of removed and then stores every entry of set.
// A directory with few changes is changed in place; one with many is
// rebuilt once: O(entries of the directory + changes) instead of one
// insertion per change.
func (t *Tree) Apply(set diff.Snapshot, removed []string) {
	byDir := map[string][]change{}
	for _, k := range removed {
		dn, name := split(k)
		byDir[dn] = append(byDir[dn], change{name: name, del: true})
	}
	for k, e := range set {
		dn, name := split(k)
		byDir[dn] = append(byDir[dn], change{name: name, e: e})
	}
	for dn, cs := range byDir {
		// Stable: a removal and a set of the same name keep their order
		// (removals first), so the set wins, as in "remove, then set".
		slices.SortStableFunc(cs, func(a, b change) int { return strings.Compare(a.name, b.name) })
		old := t.dirs[dn]
		if old != nil && len(cs) <= inPlaceChanges {
			t.applyInPlace(dn, old, cs)
			continue
		}
		if old == nil {
			old = &dir{}
		}
		nd := &dir{
			names: make([]byte, 0, len(old.names)+len(cs)*16),
			ends:  make([]uint32, 0, len(old.ends)+len(cs)),
			attrs: make([]attr, 0, len(old.attrs)+len(cs)),
		}
		i := 0
		for j := 0; j < len(cs); {
			name := cs[j].name
			for i < len(old.ends) && string(old.name(i)) < name {
				nd.push(old.name(i), old.attrs[i])
				i++
			}
			// The last change for this name decides; an old entry of the same
			// name is replaced or dropped.
			k := j
			for k+1 < len(cs) && cs[k+1].name == name {
				k++
			}
			key := join(dn, name)
			if i < len(old.ends) && string(old.name(i)) == name {
				t.n--
				t.bytes -= old.attrs[i].size
				delete(t.links, key)
				i++
			}
			if c := cs[k]; !c.del {
				nd.push([]byte(name), attrOf(c.e))
				t.n++
				t.bytes += c.e.Size
				t.setLink(key, c.e)
			}
			j = k + 1
		}
		for ; i < len(old.ends); i++ {
			nd.push(old.name(i), old.attrs[i])
		}
		if len(nd.ends) == 0 {
			delete(t.dirs, dn)
		} else {
			t.dirs[strings.Clone(dn)] = nd
		}
	}
}

// Grow makes room in directory dn for n more entries whose names take
// nameBytes bytes together, so that adding a whole listing allocates once
// and leaves no spare capacity behind.
func (t *Tree) Grow(dn string, n, nameBytes int) {
	d := t.dirs[dn]
	if d == nil {
		d = &dir{}
		t.dirs[strings.Clone(dn)] = d
	}
	d.names = slices.Grow(d.names, nameBytes)
	d.ends = slices.Grow(d.ends, n)
	d.attrs = slices.Grow(d.attrs, n)
}

// Trim gives back the spare capacity appends left behind (up to half of
// each directory's arrays): call it after loading or building a large tree.
func (t *Tree) Trim() {
	for dn, d := range t.dirs {
		if len(d.ends) == 0 {
			delete(t.dirs, dn)
			continue
		}
		if cap(d.ends) == len(d.ends) && cap(d.names) == len(d.names) {
			continue
		}
		t.dirs[dn] = &dir{
			names: slices.Clone(d.names),
			ends:  slices.Clone(d.ends),
			attrs: slices.Clone(d.attrs),
		}
	}
}

// applyInPlace makes the changes cs (sorted by name; for one name, a
// removal before a set) to the directory d named dn.
func (t *Tree) applyInPlace(dn string, d *dir, cs []change) {
	for _, c := range cs {
		key := join(dn, c.name)
		i, found := d.find(c.name)
		switch {
		case c.del && found:
			t.n--
			t.bytes -= d.attrs[i].size
			delete(t.links, key)
			d.remove(i)
		case c.del:
		case found:
			t.bytes += c.e.Size - d.attrs[i].size
			d.attrs[i] = attrOf(c.e)
			t.setLink(key, c.e)
		default:
			d.insert(i, c.name, attrOf(c.e))
			t.n++
			t.bytes += c.e.Size
			t.setLink(key, c.e)
		}
	}
	if len(d.ends) == 0 {
		delete(t.dirs, dn)
	}
}

// All yields every entry, directory by directory: directories in sorted
// order, entries by name within one.
func (t *Tree) All() iter.Seq2[string, diff.Entry] {
	return func(yield func(string, diff.Entry) bool) {
		for dn := range t.Dirs() {
			for k, e := range t.In(dn) {
				if !yield(k, e) {
					return
				}
			}
		}
	}
}

// Dirs yields the parent directories of the entries, in sorted order.
func (t *Tree) Dirs() iter.Seq[string] {
	dirs := make([]string, 0, len(t.dirs))
	for dn, d := range t.dirs {
		if len(d.ends) > 0 { // Grow may have made room in a directory left empty
			dirs = append(dirs, dn)
		}
	}
	slices.Sort(dirs)
	return slices.Values(dirs)
}

// In yields the keys and entries of the directory dn, sorted by name.
func (t *Tree) In(dn string) iter.Seq2[string, diff.Entry] {
	return func(yield func(string, diff.Entry) bool) {
		d := t.dirs[dn]
		if d == nil {
			return
		}
		for i := range d.ends {
			key := join(dn, string(d.name(i)))
			if !yield(key, t.entry(key, d.attrs[i])) {
				return
			}
		}
	}
}

func (t *Tree) entry(key string, a attr) diff.Entry {
	e := diff.Entry{Size: a.size, MTime: a.mtime, Mode: a.mode, Type: a.typ}
	if a.link {
		e.Link = t.links[key]
	}
	return e
}

func (t *Tree) setLink(key string, e diff.Entry) {
	if e.Link != "" {
		t.links[strings.Clone(key)] = e.Link
	} else {
		delete(t.links, key)
	}
}

func attrOf(e diff.Entry) attr {
	return attr{size: e.Size, mtime: e.MTime, mode: e.Mode, typ: e.Type, link: e.Link != ""}
}

func (d *dir) name(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	return d.names[start:d.ends[i]]
}

// find returns the index of name, or where it would be inserted.
func (d *dir) find(name string) (int, bool) {
	// Fast path: appending in order.
	if n := len(d.ends); n == 0 || string(d.name(n-1)) < name {
		return n, false
	}
	return d.findIn(0, len(d.ends), name)
}

// findIn is find within positions [lo, hi): name sorts after every name
// before lo and before every name from hi on.
func (d *dir) findIn(lo, hi int, name string) (int, bool) {
	end := hi
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(d.name(m)) < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < end && string(d.name(lo)) == name
}

func (d *dir) push(name []byte, a attr) {
	d.names = append(d.names, name...)
	d.ends = append(d.ends, uint32(len(d.names)))
	d.attrs = append(d.attrs, a)
}

// insert puts name at index i (which find returned).
func (d *dir) insert(i int, name string, a attr) {
	if i == len(d.ends) {
		d.push([]byte(name), a)
		return
	}
	start := uint32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	d.names = slices.Insert(d.names, int(start), []byte(name)...)
	d.ends = slices.Insert(d.ends, i, start+uint32(len(name)))
	for j := i + 1; j < len(d.ends); j++ {
		d.ends[j] += uint32(len(name))
	}
	d.attrs = slices.Insert(d.attrs, i, a)
}

// remove deletes entry i.
func (d *dir) remove(i int) {
	start := uint32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	n := d.ends[i] - start
	d.names = slices.Delete(d.names, int(start), int(d.ends[i]))
	d.ends = slices.Delete(d.ends, i, i+1)
	for j := i; j < len(d.ends); j++ {
		d.ends[j] -= n
	}
	d.attrs = slices.Delete(d.attrs, i, i+1)
}

// split returns key's parent directory ("" for the root) and base name.
func split(key string) (dir, name string) {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
