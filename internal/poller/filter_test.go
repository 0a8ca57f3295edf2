package poller_test

import (
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
)

func TestFilterMatch(t *testing.T) {
	type probe struct {
		rel  string
		typ  diff.EntryType
		want bool
	}
	cases := []struct {
		name             string
		include, exclude []string
		types            []string
		probes           []probe
	}{
		{
			name: "no filters: everything",
			probes: []probe{
				{"a", diff.File, true}, {"a/b/c", diff.Dir, true}, {"l", diff.Symlink, true}, {"s", diff.Other, true},
			},
		},
		{
			name:    "include on rel_path, ** spans directories and the root",
			include: []string{"**/*.csv"},
			probes: []probe{
				{"a.csv", diff.File, true}, {"x/y/z.csv", diff.File, true},
				{"a.csvx", diff.File, false}, {"x/a.txt", diff.File, false}, {"x", diff.Dir, false},
			},
		},
		{
			name:    "single * does not cross a slash",
			include: []string{"in/*"},
			probes: []probe{
				{"in/a", diff.File, true}, {"in/a/b", diff.File, false}, {"in", diff.Dir, false}, {"out/a", diff.File, false},
			},
		},
		{
			name:    "several includes: any one is enough",
			include: []string{"*.csv", "data/**"},
			probes: []probe{
				{"a.csv", diff.File, true}, {"data/x.bin", diff.File, true}, {"sub/a.csv", diff.File, false},
			},
		},
		{
			name:    "exclude wins over include",
			include: []string{"**/*.csv"},
			exclude: []string{"**/*.part", "**/.*", "tmp/**"},
			probes: []probe{
				{"a.csv", diff.File, true}, {".a.csv", diff.File, false}, {"d/.hidden.csv", diff.File, false},
				{"tmp/a.csv", diff.File, false}, {"b.csv.part", diff.File, false},
			},
		},
		{
			name:  "types: files only",
			types: []string{"file"},
			probes: []probe{
				{"a", diff.File, true}, {"d", diff.Dir, false}, {"l", diff.Symlink, false}, {"s", diff.Other, false},
			},
		},
		{
			name:  "types: dir and symlink",
			types: []string{"dir", "symlink"},
			probes: []probe{
				{"a", diff.File, false}, {"d", diff.Dir, true}, {"l", diff.Symlink, true}, {"s", diff.Other, false},
			},
		},
		{
			name:    "types and include together",
			include: []string{"**/*.csv"},
			types:   []string{"file"},
			probes:  []probe{{"a.csv", diff.File, true}, {"b.csv", diff.Dir, false}},
		},
		{
			// Names are data, never patterns: glob metacharacters, shell
			// syntax and control characters in a name are matched literally.
			name:    "hostile names are data",
			include: []string{"**/*.csv"},
			probes: []probe{
				{"a\nb.csv", diff.File, true},
				{"$(touch PWNED).csv", diff.File, true},
				{"d/[.csv", diff.File, true},
				{"*.csv", diff.File, true},
				{"{a,b}.csv", diff.File, true},
				{`back\slash.csv`, diff.File, true},
				{"ünï cödé .csv", diff.File, true},
				{"a\nb.txt", diff.File, false},
				{"*.csv\n", diff.File, false},
				{"$(touch PWNED)", diff.File, false},
			},
		},
		{
			name:    "a literal pattern does not match a name that looks like a glob",
			include: []string{"x.csv"},
			probes:  []probe{{"x.csv", diff.File, true}, {"*.csv", diff.File, false}, {"[x].csv", diff.File, false}},
		},
		{
			name:    "escaped metacharacters in a pattern match them literally",
			include: []string{`\*.csv`, `\[*`},
			probes:  []probe{{"*.csv", diff.File, true}, {"a.csv", diff.File, false}, {"[x", diff.File, true}, {"x[", diff.File, false}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := poller.NewFilter(config.Watch{Name: "w", Include: tc.include, Exclude: tc.exclude, Types: tc.types})
			if err != nil {
				t.Fatalf("NewFilter: %v", err)
			}
			for _, p := range tc.probes {
				if got := f.Match(p.rel, p.typ); got != p.want {
					t.Errorf("Match(%q, %v) = %v, want %v", p.rel, p.typ, got, p.want)
				}
			}
		})
	}
}

// TestFilterExcludedPrunes checks the directory side: Excluded is what the
// walk asks before descending, so an excluded directory is not listed at all.
func TestFilterExcludedPrunes(t *testing.T) {
	f, err := poller.NewFilter(config.Watch{
		Name:    "w",
		Include: []string{"**/*.csv"}, // include never prunes: non-matching directories are still walked
		Exclude: []string{"**/.*", "tmp/**", "archive"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]bool{
		".git":         true,
		"a/.cache":     true,
		"tmp":          true, // "tmp/**" also matches the directory itself
		"tmp/deep":     true,
		"archive":      true,
		"a/archive":    false, // anchored at the root
		"data":         false,
		"data/archive": false,
		"data.csv":     false,
		"[":            false,
		"*":            false,
		"a\n.git":      false, // the dot is not at the start of the name
	} {
		if got := f.Excluded(rel); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestFilterInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    config.Watch
		want string
	}{
		{"unclosed class in include", config.Watch{Name: "w", Include: []string{"ok/*", "[a"}}, `invalid glob "[a"`},
		{"unclosed brace in exclude", config.Watch{Name: "w", Exclude: []string{"{a,b"}}, `invalid glob "{a,b"`},
		{"trailing escape", config.Watch{Name: "w", Include: []string{`a\`}}, `invalid glob "a\\"`},
		{"unknown type", config.Watch{Name: "w", Types: []string{"file", "socket"}}, `unknown entry type "socket"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := poller.NewFilter(tc.w)
			if err == nil {
				t.Fatal("NewFilter accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `watch "w"`) {
				t.Errorf("error %q should name the watch and contain %q", err, tc.want)
			}
		})
	}
}

func TestFilterMarkersAndSizes(t *testing.T) {
	f, err := poller.NewFilter(config.Watch{Name: "w", Include: []string{"**/*.csv"}, RequireMarker: ".ok", MinSize: 2, MaxSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel    string
		t      diff.EntryType
		marked string // "" when rel is no marker
	}{
		{"a.csv.ok", diff.File, "a.csv"},
		{"d/b.csv.ok", diff.Symlink, "d/b.csv"},
		{"x.ok", diff.File, "x"},
		{".ok", diff.File, ""},
		{"d/.ok", diff.File, ""},
		{"dir.ok", diff.Dir, ""},
		{"a.csv", diff.File, ""},
	} {
		got, ok := f.MarkerOf(tc.rel, tc.t)
		if got != tc.marked || ok != (tc.marked != "") {
			t.Errorf("MarkerOf(%q, %v) = %q, %v; want %q", tc.rel, tc.t, got, ok, tc.marked)
		}
	}
	if f.Match("a.csv.ok", diff.File) {
		t.Error("a marker matched")
	}
	for size, want := range map[int64]bool{1: false, 2: true, 4: true, 5: false} {
		if got := f.Covers("a.csv", diff.Entry{Type: diff.File, Size: size}); got != want {
			t.Errorf("Covers(file of %d bytes) = %v, want %v", size, got, want)
		}
	}
	if !f.Covers("d.csv", diff.Entry{Type: diff.Dir, Size: 4096}) {
		t.Error("a directory was bounded by the size filter")
	}
}
