package state

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Entry encoding, version 1 (little-endian, 22 bytes + link):
//
//	[0]      encoding version (1)
//	[1]      diff.EntryType
//	[2:10]   Size  int64
//	[10:18]  MTime int64
//	[18:22]  Mode  uint32
//	[22:]    Link  (the rest of the value)
//
// Pending encoding: Since int64 LE (8 bytes), then the entry encoding.
const (
	entryVersion    = 1
	entryHeaderSize = 22
	pendingPrefix   = 8
)

var (
	errShortValue   = errors.New("value too short")
	errBadVersion   = errors.New("unknown entry encoding version")
	errBadEntryType = errors.New("unknown entry type")
)

// validEntryType reports whether t is one of the diff.EntryType constants.
func validEntryType(t diff.EntryType) bool { return t <= diff.Other }

// appendEntry appends the encoding of e to dst.
func appendEntry(dst []byte, e diff.Entry) []byte {
	dst = append(dst, entryVersion, byte(e.Type))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Size))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.MTime))
	dst = binary.LittleEndian.AppendUint32(dst, e.Mode)
	return append(dst, e.Link...)
}

// decodeEntry decodes an entry encoding. It never panics; any malformed
// input is an error.
func decodeEntry(b []byte) (diff.Entry, error) {
	if len(b) < entryHeaderSize {
		return diff.Entry{}, fmt.Errorf("%w: %d bytes, need %d", errShortValue, len(b), entryHeaderSize)
	}
	if b[0] != entryVersion {
		return diff.Entry{}, fmt.Errorf("%w %d", errBadVersion, b[0])
	}
	e := diff.Entry{
		Type:  diff.EntryType(b[1]),
		Size:  int64(binary.LittleEndian.Uint64(b[2:10])),
		MTime: int64(binary.LittleEndian.Uint64(b[10:18])),
		Mode:  binary.LittleEndian.Uint32(b[18:22]),
	}
	if !validEntryType(e.Type) {
		return diff.Entry{}, fmt.Errorf("%w %d", errBadEntryType, b[1])
	}
	if len(b) > entryHeaderSize {
		e.Link = string(b[entryHeaderSize:])
	}
	return e, nil
}

func appendPending(dst []byte, p diff.Pending) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(p.Since))
	return appendEntry(dst, p.Entry)
}

func decodePending(b []byte) (diff.Pending, error) {
	if len(b) < pendingPrefix {
		return diff.Pending{}, fmt.Errorf("%w: %d bytes, need %d", errShortValue, len(b), pendingPrefix+entryHeaderSize)
	}
	e, err := decodeEntry(b[pendingPrefix:])
	if err != nil {
		return diff.Pending{}, err
	}
	return diff.Pending{Entry: e, Since: int64(binary.LittleEndian.Uint64(b[:pendingPrefix]))}, nil
}

// seqKey is the outbox/dead-letter key of sequence number n: big-endian, so
// that key order is commit order.
func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

// eventID formats the ID of the n-th event of a watch.
func eventID(watch string, n uint64) string { return fmt.Sprintf("%s-%012d", watch, n) }

// record is the stored form of an outbox item or dead letter. The event's
// own JSON drops OldRelPath (it is not part of the wire format), so it is
// kept beside it. Names that are not UTF-8 keep their bytes: the event's
// JSON carries "<field>_b64" companions (event.B64), and OldRelPath has its
// own. A record written before the companions existed decodes as it did.
type record struct {
	Step          int         `json:"step"`
	Attempts      int         `json:"attempts"`
	OldRelPath    string      `json:"old_rel_path,omitempty"`
	OldRelPathB64 string      `json:"old_rel_path_b64,omitempty"`
	Reason        string      `json:"reason,omitempty"`
	At            time.Time   `json:"at,omitzero"`
	Event         event.Event `json:"event"`
}

func encodeRecord(r record) ([]byte, error) {
	r.OldRelPath, r.OldRelPathB64 = r.Event.OldRelPath, event.B64(r.Event.OldRelPath)
	return json.Marshal(r)
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, err
	}
	old, err := event.FromB64("old_rel_path_b64", r.OldRelPath, r.OldRelPathB64)
	if err != nil {
		return record{}, err
	}
	r.OldRelPath, r.OldRelPathB64 = old, ""
	r.Event.OldRelPath = old
	return r, nil
}

// encodeDirs is the stored form of a list of directory rel paths
// (Batch.BaselinePending): a JSON array of strings, as it always was, when
// every path is UTF-8; else {"b64": [...]} with the standard base64 of each
// path's bytes, so that no byte is lost.
func encodeDirs(dirs []string) ([]byte, error) {
	lossless := true
	for _, d := range dirs {
		lossless = lossless && event.B64(d) == ""
	}
	if lossless {
		return json.Marshal(dirs)
	}
	enc := make([]string, len(dirs))
	for i, d := range dirs {
		enc[i] = base64.StdEncoding.EncodeToString([]byte(d))
	}
	return json.Marshal(struct {
		B64 []string `json:"b64"`
	}{enc})
}

// decodeDirs decodes either form encodeDirs writes.
func decodeDirs(b []byte) ([]string, error) {
	var dirs []string
	if len(b) == 0 || b[0] != '{' {
		err := json.Unmarshal(b, &dirs)
		return dirs, err
	}
	var v struct {
		B64 []string `json:"b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	dirs = make([]string, len(v.B64))
	for i, s := range v.B64 {
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("directory %d: %w", i, err)
		}
		dirs[i] = string(d)
	}
	return dirs, nil
}
