package diff

// sameContent reports whether a and b describe the same content as far as
// events are concerned: Type, Size and MTime, and for symlinks the target.
// Mode is deliberately not part of it: a mode-only change is not a modify.
// It is also the rename pairing key (see renameKey).
func sameContent(a, b Entry) bool {
	if a.Type != b.Type || a.Size != b.Size || a.MTime != b.MTime {
		return false
	}
	return a.Type != Symlink || a.Link == b.Link
}

// renameKey is the part of an entry that must match for a delete and a new
// entry to pair into a rename; keys are equal exactly when sameContent is.
type renameKey struct {
	typ   EntryType
	size  int64
	mtime int64
	link  string
}

func keyOf(e Entry) renameKey {
	k := renameKey{typ: e.Type, size: e.Size, mtime: e.MTime}
	if e.Type == Symlink {
		k.link = e.Link
	}
	return k
}
