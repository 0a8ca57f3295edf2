package actions

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// checkRelPath refuses a rel_path that could address anything outside the
// directory it is relative to: empty, ".", absolute, with a ".." element, not
// in clean form, or holding a NUL byte. It is the lexical first line of
// defence; download additionally does every local operation through os.Root.
func checkRelPath(rel string) error {
	switch {
	case rel == "" || rel == ".":
		return fmt.Errorf("rel_path %q is empty", rel)
	case strings.ContainsRune(rel, 0):
		return fmt.Errorf("rel_path %q contains a NUL byte", rel)
	case path.IsAbs(rel) || filepath.IsAbs(rel):
		return fmt.Errorf("rel_path %q is absolute", rel)
	}
	for _, el := range strings.Split(rel, "/") {
		if el == ".." {
			return fmt.Errorf("rel_path %q contains a %q element", rel, "..")
		}
	}
	if path.Clean(rel) != rel {
		return fmt.Errorf("rel_path %q is not in clean form (%q)", rel, path.Clean(rel))
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return fmt.Errorf("rel_path %q is not a valid local name", rel)
	}
	return nil
}
