package diff

// EntryType is the type of a remote directory entry.
type EntryType uint8

// Entry types. Other covers sockets, devices, fifos and anything the server
// reports that is none of the first three.
const (
	File EntryType = iota
	Dir
	Symlink
	Other
)

// String returns the name used in events, config and `ls` output.
func (t EntryType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	default:
		return "other"
	}
}

// Entry is what a scan knows of one remote entry. MTime is in Unix seconds,
// the resolution of SFTP v3.
//
// The fields are ordered by size so that an Entry takes 40 bytes instead of
// 48: a snapshot holds one per remote entry (millions for a large watch).
// Use keyed literals; the order is not part of the contract.
type Entry struct {
	Size  int64
	MTime int64
	Link  string // symlink target, when Type == Symlink
	Mode  uint32 // permission bits (0o7777 mask)
	Type  EntryType
}

// Snapshot maps rel_path (slash-separated, relative to the watch root, no
// leading slash) to the entry stored for it.
type Snapshot map[string]Entry

// Pending is an entry seen with new attributes that has not been reported
// yet because it has not settled. Since is when these exact attributes
// (Entry) were first seen, in Unix nanoseconds of the scan clock.
type Pending struct {
	Entry Entry
	Since int64
}
