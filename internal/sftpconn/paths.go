package sftpconn

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// ModeToInt is pysftp's st_mode_to_int: the permission bits of m written as
// the decimal number that reads like their octal form, so a file chmod'ed
// 0o711 gives 711.
func ModeToInt(m fs.FileMode) int {
	n, _ := strconv.Atoi(strconv.FormatUint(uint64(m.Perm()), 8)) // at most "777": cannot fail
	return n
}

// ModeFromInt is the inverse of ModeToInt: 711 → 0o711. It rejects numbers
// with a digit above 7 or more than three digits.
func ModeFromInt(n int) (fs.FileMode, error) {
	if n < 0 || n > 777 {
		return 0, fmt.Errorf("mode %d: want three octal digits", n)
	}
	v, err := strconv.ParseUint(strconv.Itoa(n), 8, 32)
	if err != nil {
		return 0, fmt.Errorf("mode %d: not octal digits", n)
	}
	return fs.FileMode(v), nil
}

// Reparent is pysftp's reparent: oldpath adopted as a child of newparent,
// even when oldpath is absolute ("/a/b" under "/dst" is "/dst/a/b").
func Reparent(newparent, oldpath string) string {
	return path.Join(newparent, strings.TrimLeft(oldpath, "/"))
}

// PathAdvance is pysftp's path_advance: every prefix of p, shortest first.
// "a/b/c" → ["a", "a/b", "a/b/c"]; "/a/b" → ["/a", "/a/b"]. Empty
// components (doubled slashes) are skipped.
func PathAdvance(p string) []string {
	prefix := ""
	if strings.HasPrefix(p, "/") {
		prefix = "/"
	}
	var out []string
	cur := ""
	for _, part := range strings.Split(p, "/") {
		if part == "" {
			continue
		}
		if cur == "" {
			cur = prefix + part
		} else {
			cur = cur + "/" + part
		}
		out = append(out, cur)
	}
	return out
}

// PathRetreat is pysftp's path_retreat: every prefix of p, longest first.
// "a/b/c" → ["a/b/c", "a/b", "a"].
func PathRetreat(p string) []string {
	out := PathAdvance(p)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
