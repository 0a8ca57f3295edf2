package snapshot

import "github.com/sftpwatchd/sftpwatchd/internal/diff"

// Cursor looks up the keys of one directory in a Tree, for a caller that
// has them sorted by name (a listing): it walks the directory's names
// alongside, so that a key found right after the one before costs one
// comparison instead of a map look-up and a binary search. Keys in any
// other order are still looked up correctly, by a binary search.
//
// A Cursor reads the Tree: it must not change while the Cursor is used.
type Cursor struct {
	t      *Tree
	dn     string
	d      *dir // nil when the directory holds no entries
	next   int  // where the next name is expected: after the last one found
	last   int  // position of the last key found; -1 before the first
	strict bool // every key found was stored after the one found before it
}

// Cursor returns a cursor on directory dn ("" for the root).
func (t *Tree) Cursor(dn string) Cursor {
	return Cursor{t: t, dn: dn, d: t.dirs[dn], last: -1, strict: true}
}

// Dir is the cursor's directory.
func (c *Cursor) Dir() string { return c.dn }

// Get returns the entry stored for key. A key of another directory is
// looked up in the whole Tree (and breaks Increasing).
func (c *Cursor) Get(key string) (diff.Entry, bool) {
	dn, name := split(key)
	if dn != c.dn {
		c.strict = false
		return c.t.Get(key)
	}
	i, ok := c.find(name)
	if !ok {
		return diff.Entry{}, false
	}
	if i <= c.last {
		c.strict = false
	}
	c.last = i
	return c.t.entry(key, c.d.attrs[i]), true
}

// Increasing reports whether every key Get found so far was stored after
// the one found before it: then no key was found twice.
func (c *Cursor) Increasing() bool { return c.strict }

// find returns the position of name in the directory, or where it would
// be inserted, starting from where the last look-up left off. Every path
// is correct whatever the order of the look-ups; only the cost differs.
func (c *Cursor) find(name string) (int, bool) {
	d := c.d
	if d == nil {
		return 0, false
	}
	n, i := len(d.ends), c.next
	if i < n {
		if string(d.name(i)) == name {
			c.next = i + 1
			return i, true
		}
		if string(d.name(i)) < name {
			// Further on: the stored names between were not listed.
			j, ok := d.findIn(i+1, n, name)
			c.next = j
			if ok {
				c.next++
			}
			return j, ok
		}
	}
	// name sorts before the name at i (or i is the end): it is not stored
	// unless it also sorts before the name at i-1 (out of order).
	if i == 0 || string(d.name(i-1)) < name {
		return i, false
	}
	j, ok := d.findIn(0, i, name)
	c.next = j
	if ok {
		c.next++
	}
	return j, ok
}
