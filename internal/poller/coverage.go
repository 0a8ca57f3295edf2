package poller

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// coverage is what decides which remote entries a watch covers: its
// filters, its depth and whether links are followed. The interval, settle,
// the lister and everything else are not part of it: the sftp and find
// listers cover the same entries (find prunes by depth on the server and by
// exclude in the poller, exactly as the SFTP walk does). Its JSON form is
// stored with the snapshot (Stored.Filter), so that after a change the
// poller knows exactly which entries the old settings covered.
type coverage struct {
	Include        []string `json:"include,omitempty"`
	Exclude        []string `json:"exclude,omitempty"`
	Types          []string `json:"types,omitempty"` // none: every type
	MaxDepth       int      `json:"max_depth"`       // 0: unlimited; 1 when not recursive
	FollowSymlinks bool     `json:"follow_symlinks,omitempty"`
	// Added later: omitted when unset, so a state stored before them
	// encodes the same and is no filter change.
	MinSize int64  `json:"min_size,omitempty"`
	MaxSize int64  `json:"max_size,omitempty"`
	Marker  string `json:"require_marker,omitempty"` // its entries are markers, never covered
}

// coverageOf is the coverage of w, normalised so that settings that cover
// the same entries encode the same.
func coverageOf(w config.Watch) coverage {
	c := coverage{Include: w.Include, Exclude: w.Exclude, MaxDepth: w.MaxDepth, FollowSymlinks: w.FollowSymlinks,
		MinSize: max(w.MinSize, 0), MaxSize: max(w.MaxSize, 0), Marker: w.RequireMarker}
	c.Types = slices.Clone(w.Types)
	slices.Sort(c.Types)
	c.Types = slices.Compact(c.Types)
	if !w.Recursive {
		c.MaxDepth = 1
	}
	return c
}

// encode is the stored form of c.
func (c coverage) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // strings, ints and bools always encode
	}
	return string(b)
}

func decodeCoverage(s string) (coverage, error) {
	var c coverage
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return coverage{}, fmt.Errorf("stored filter %q: %w", s, err)
	}
	return c, nil
}

// coverer answers "does this coverage see the entry?" for stored entries,
// as a walk with it would: the entry is not deeper than the depth limit, no
// directory above it is excluded (pruned), and the filter covers it (path,
// type and, for files, size).
type coverer struct {
	c coverage
	f Filter
}

func newCoverer(name string, c coverage) (coverer, error) {
	f, err := NewFilter(config.Watch{Name: name, Include: c.Include, Exclude: c.Exclude, Types: c.Types,
		MinSize: c.MinSize, MaxSize: c.MaxSize, RequireMarker: c.Marker})
	if err != nil {
		return coverer{}, err
	}
	return coverer{c: c, f: f}, nil
}

func (v coverer) covers(rel string, e diff.Entry) bool {
	if v.c.MaxDepth > 0 && strings.Count(rel, "/") >= v.c.MaxDepth {
		return false
	}
	for i := strings.IndexByte(rel, '/'); i >= 0; {
		if v.f.Excluded(rel[:i]) {
			return false
		}
		j := strings.IndexByte(rel[i+1:], '/')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return v.f.Covers(rel, e)
}
