package poller

import (
	"fmt"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// Filter decides which listed entries a watch sees (include/exclude globs on
// rel_path, entry types, file size bounds, markers) and which directories it
// does not descend into.
type Filter struct {
	include []string
	exclude []string
	hidden  uint16 // bit 1<<t set: entries of type t are not seen (zero: every type)
	minSize int64  // files smaller are not seen (0: no bound)
	maxSize int64  // files larger are not seen (0: no bound)
	marker  string // require_marker: entries named *marker are markers, never seen
}

// NewFilter builds the filter of a watch. Patterns are validated by the
// config package; an invalid one is still reported here rather than ignored.
func NewFilter(w config.Watch) (Filter, error) {
	f := Filter{include: w.Include, exclude: w.Exclude, minSize: w.MinSize, maxSize: w.MaxSize, marker: w.RequireMarker}
	if strings.Contains(f.marker, "/") {
		return Filter{}, fmt.Errorf("watch %q: require_marker %q holds a '/'", w.Name, f.marker)
	}
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

// Match reports whether an entry of type t at rel is seen by the watch,
// judged by its path and type alone (see Sized for the size bounds).
func (f Filter) Match(rel string, t diff.EntryType) bool {
	if t < 16 && f.hidden&(1<<t) != 0 {
		return false
	}
	if f.marker != "" && t != diff.Dir && strings.HasSuffix(rel, f.marker) {
		return false // a marker (or a file named like one) is never an event
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

// Sized reports whether an entry of type t and size size is within the
// watch's min_size and max_size (inclusive). Only files are bounded.
func (f Filter) Sized(t diff.EntryType, size int64) bool {
	if t != diff.File {
		return true
	}
	return size >= f.minSize && (f.maxSize <= 0 || size <= f.maxSize)
}

// Covers is Match and Sized: whether the watch sees the entry at all.
func (f Filter) Covers(rel string, e diff.Entry) bool {
	return f.Match(rel, e.Type) && f.Sized(e.Type, e.Size)
}

// MarkerOf returns the rel path of the file that the entry at rel marks
// (rel without the require_marker suffix), when rel is a marker: its name
// ends with the suffix and is longer than it, and it is not a directory.
func (f Filter) MarkerOf(rel string, t diff.EntryType) (string, bool) {
	if f.marker == "" || t == diff.Dir || !strings.HasSuffix(rel, f.marker) {
		return "", false
	}
	marked := rel[:len(rel)-len(f.marker)]
	if base := path.Base(marked); marked == "" || strings.HasSuffix(marked, "/") || base == "." || base == ".." {
		return "", false
	}
	return marked, true
}

// RequiresMarker reports whether files are held back until their marker
// exists.
func (f Filter) RequiresMarker() bool { return f.marker != "" }
