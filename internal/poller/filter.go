package poller

import (
	"fmt"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// Filter decides which listed entries a watch sees (include/exclude globs on
// rel_path, entry types) and which directories it does not descend into.
type Filter struct {
	include []string
	exclude []string
	hidden  uint16 // bit 1<<t set: entries of type t are not seen (zero: every type)
}

// NewFilter builds the filter of a watch. Patterns are validated by the
// config package; an invalid one is still reported here rather than ignored.
func NewFilter(w config.Watch) (Filter, error) {
	f := Filter{include: w.Include, exclude: w.Exclude}
	for _, p := range append(append([]string(nil), w.Include...), w.Exclude...) {
		if !doublestar.ValidatePattern(p) {
			return Filter{}, fmt.Errorf("watch %q: invalid glob %q", w.Name, p)
		}
	}
	if len(w.Types) > 0 {
		seen := uint16(0)
		for _, t := range w.Types {
			switch t {
			case "file":
				seen |= 1 << diff.File
			case "dir":
				seen |= 1 << diff.Dir
			case "symlink":
				seen |= 1 << diff.Symlink
			default:
				return Filter{}, fmt.Errorf("watch %q: unknown entry type %q", w.Name, t)
			}
		}
		f.hidden = ^seen
	}
	return f, nil
}

// Excluded reports whether rel matches an exclude pattern. An excluded
// directory is not descended into.
func (f Filter) Excluded(rel string) bool {
	for _, p := range f.exclude {
		if ok, _ := doublestar.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// Match reports whether an entry of type t at rel is seen by the watch.
func (f Filter) Match(rel string, t diff.EntryType) bool {
	if t < 16 && f.hidden&(1<<t) != 0 {
		return false
	}
	if f.Excluded(rel) {
		return false
	}
	if len(f.include) == 0 {
		return true
	}
	for _, p := range f.include {
		if ok, _ := doublestar.Match(p, rel); ok {
			return true
		}
	}
	return false
}
