package event

import "time"

// Type is the kind of change an event reports.
type Type string

// The event types of SPEC section 4.
const (
	Create Type = "create"
	Modify Type = "modify"
	Delete Type = "delete"
	Rename Type = "rename"
)

// Types lists every event type in a stable order.
var Types = []Type{Create, Modify, Delete, Rename}

// Prev holds the attributes an entry had before a modify or delete.
type Prev struct {
	Size  int64     `json:"size"`
	MTime time.Time `json:"mtime"`
}

// Event is one change of one remote entry. Its JSON form is the wire format
// of SPEC section 4 (webhook body, exec stdin, --json output). Field names are
// also the names exec argv templates use (.ID, .RelPath, .LocalPath …).
type Event struct {
	ID         string    `json:"id"`
	Watch      string    `json:"watch"`
	Host       string    `json:"host"`
	Type       Type      `json:"type"`
	Path       string    `json:"path"`
	RelPath    string    `json:"rel_path"`
	Name       string    `json:"name"`
	EntryType  string    `json:"entry_type"` // file | dir | symlink | other
	Size       int64     `json:"size"`
	MTime      time.Time `json:"mtime"`
	Mode       string    `json:"mode"` // permission bits, octal, e.g. "0644"
	Prev       *Prev     `json:"prev,omitempty"`
	OldPath    string    `json:"old_path,omitempty"`
	OldRelPath string    `json:"-"` // rel_path of the old location of a rename
	DetectedAt time.Time `json:"detected_at"`
	LocalPath  string    `json:"local_path,omitempty"`
}
