package diff

import "strings"

// failedSet answers "is this rel_path beneath a directory whose listing did
// not complete?". It is built from Scan.Failed once per Compare.
type failedSet struct {
	root bool                // the watch root failed: nothing may be deleted
	dirs map[string]struct{} // normalised rel paths of failed directories
}

func newFailedSet(failed []string) failedSet {
	var f failedSet
	for _, d := range failed {
		d = strings.Trim(d, "/")
		if d == "" || d == "." {
			f.root = true
			continue
		}
		if f.dirs == nil {
			f.dirs = make(map[string]struct{}, len(failed))
		}
		f.dirs[d] = struct{}{}
	}
	return f
}

// covers reports whether a failed directory is the parent or any ancestor
// of p. The failed directory itself is not covered: its own entry was in its
// parent's listing, which is judged on its own.
func (f failedSet) covers(p string) bool {
	if f.root {
		return true
	}
	if len(f.dirs) == 0 {
		return false
	}
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
		if _, ok := f.dirs[p]; ok {
			return true
		}
	}
}
