package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// treeSpec is a generated tree: dirs directories (breadth first, branching
// fan, so depth stays ~4) holding files regular files spread evenly.
type treeSpec struct {
	name     string
	dirs     int
	files    int
	fan      int
	fileSize int
}

func (t treeSpec) entries() int { return t.dirs + t.files }

func (t treeSpec) String() string {
	return fmt.Sprintf("%s dirs / %s files", thousands(t.dirs), thousands(t.files))
}

// build creates the tree under root (which must not exist) and returns
// its depth (directory levels below root).
func (t treeSpec) build(root string) (depth int, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return 0, err
	}
	type dir struct {
		path  string
		level int
	}
	queue := []dir{{root, 0}}
	var all []dir
	for made := 0; made < t.dirs; {
		parent := queue[0]
		queue = queue[1:]
		for i := 0; i < t.fan && made < t.dirs; i++ {
			d := dir{filepath.Join(parent.path, "d"+strconv.Itoa(i)), parent.level + 1}
			if err := os.Mkdir(d.path, 0o755); err != nil {
				return 0, err
			}
			made++
			depth = max(depth, d.level)
			queue = append(queue, d)
			all = append(all, d)
		}
	}
	content := make([]byte, t.fileSize)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	for i := 0; i < t.files; i++ {
		d := all[i%len(all)]
		p := filepath.Join(d.path, "file-"+strconv.Itoa(i)+".dat")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return 0, err
		}
	}
	return depth, nil
}

// bigFile writes a file of size bytes of incompressible-ish data.
func bigFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	x := uint64(88172645463325252)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		buf[i] = byte(x)
	}
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		buf[0]++ // blocks differ
		left -= n
	}
	return f.Close()
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
