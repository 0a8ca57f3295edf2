package sftpconn

import (
	"io/fs"
	"reflect"
	"testing"
)

func TestModeToInt(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want int
	}{
		{0o711, 711}, {0o644, 644}, {0o7, 7}, {0, 0}, {fs.ModeDir | 0o755, 755}, {fs.ModeSetuid | 0o4755, 755},
	} {
		if got := ModeToInt(tc.mode); got != tc.want {
			t.Errorf("ModeToInt(%v) = %d, want %d", tc.mode, got, tc.want)
		}
	}
	for _, n := range []int{711, 644, 7, 0, 777} {
		m, err := ModeFromInt(n)
		if err != nil || ModeToInt(m) != n {
			t.Errorf("ModeFromInt(%d) = %v, %v", n, m, err)
		}
	}
	for _, bad := range []int{778, 8, 1000, -1, 19} {
		if _, err := ModeFromInt(bad); err == nil {
			t.Errorf("ModeFromInt(%d) accepted", bad)
		}
	}
}

func TestReparent(t *testing.T) {
	for _, tc := range []struct{ parent, old, want string }{
		{"/dst", "/a/b", "/dst/a/b"},
		{"/dst", "a/b", "/dst/a/b"},
		{"dst", "/a", "dst/a"},
		{"/dst/", "//a//b/", "/dst/a/b"},
		{"/dst", "/", "/dst"},
	} {
		if got := Reparent(tc.parent, tc.old); got != tc.want {
			t.Errorf("Reparent(%q, %q) = %q, want %q", tc.parent, tc.old, got, tc.want)
		}
	}
}

func TestPathAdvanceRetreat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a/b/c", []string{"a", "a/b", "a/b/c"}},
		{"/a/b", []string{"/a", "/a/b"}},
		{"a//b/", []string{"a", "a/b"}},
		{"/", nil},
		{"", nil},
		{"new\nline/$(x)", []string{"new\nline", "new\nline/$(x)"}},
	} {
		if got := PathAdvance(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("PathAdvance(%q) = %q, want %q", tc.in, got, tc.want)
		}
		var rev []string
		for i := len(tc.want) - 1; i >= 0; i-- {
			rev = append(rev, tc.want[i])
		}
		if got := PathRetreat(tc.in); !reflect.DeepEqual(got, rev) {
			t.Errorf("PathRetreat(%q) = %q, want %q", tc.in, got, rev)
		}
	}
}
