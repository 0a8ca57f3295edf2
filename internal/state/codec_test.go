package state

import (
	"errors"
	"math"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

func TestEntryEncoding(t *testing.T) {
	for _, e := range []diff.Entry{
		{},
		{Type: diff.File, Size: 1234, MTime: 1764000000, Mode: 0o644},
		{Type: diff.Dir, Size: -1, MTime: math.MinInt64, Mode: 0o7777},
		{Type: diff.Symlink, Size: math.MaxInt64, MTime: math.MaxInt64, Mode: math.MaxUint32, Link: "../t\nx $(rm -rf /) ü"},
		{Type: diff.Other},
	} {
		b := appendEntry(nil, e)
		if want := entryHeaderSize + len(e.Link); len(b) != want {
			t.Errorf("%+v encodes to %d bytes, want %d", e, len(b), want)
		}
		got, err := decodeEntry(b)
		if err != nil || got != e {
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
		p := diff.Pending{Entry: e, Since: -42}
		gp, err := decodePending(appendPending(nil, p))
		if err != nil || gp != p {
			t.Errorf("round trip of %+v = %+v, %v", p, gp, err)
		}
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	good := appendEntry(nil, diff.Entry{Type: diff.File, Size: 1})
	badType := append([]byte(nil), good...)
	badType[1] = 4
	badVersion := append([]byte(nil), good...)
	badVersion[0] = 2
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"nil":         {nil, errShortValue},
		"short":       {good[:entryHeaderSize-1], errShortValue},
		"bad type":    {badType, errBadEntryType},
		"bad version": {badVersion, errBadVersion},
	} {
		if _, err := decodeEntry(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", name, err, tc.want)
		}
	}
	if _, err := decodePending(make([]byte, pendingPrefix-1)); !errors.Is(err, errShortValue) {
		t.Errorf("short pending: %v", err)
	}
	if _, err := decodePending(make([]byte, pendingPrefix)); !errors.Is(err, errShortValue) {
		t.Errorf("pending without entry: %v", err)
	}
}

// FuzzDecodeEntry: decoding arbitrary bytes never panics, whatever decodes
// re-encodes to the same bytes, and every valid entry round-trips.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, diff.Entry{Type: diff.Symlink, Size: 3, MTime: 4, Mode: 0o777, Link: "x"}), uint8(0), int64(0), int64(0), uint32(0), "")
	f.Add([]byte{}, uint8(2), int64(-1), int64(1<<62), uint32(0o644), "../a\n")
	f.Add([]byte{1, 9, 0, 0}, uint8(3), int64(0), int64(0), uint32(0), "ü")
	f.Fuzz(func(t *testing.T, data []byte, typ uint8, size, mtime int64, mode uint32, link string) {
		if e, err := decodeEntry(data); err == nil {
			if re := appendEntry(nil, e); string(re) != string(data) {
				t.Errorf("decode(%x) = %+v re-encodes to %x", data, e, re)
			}
		}
		if p, err := decodePending(data); err == nil {
			if re := appendPending(nil, p); string(re) != string(data) {
				t.Errorf("decodePending(%x) = %+v re-encodes to %x", data, p, re)
			}
		}
		e := diff.Entry{Type: diff.EntryType(typ), Size: size, MTime: mtime, Mode: mode, Link: link}
		got, err := decodeEntry(appendEntry(nil, e))
		switch {
		case !validEntryType(e.Type):
			if err == nil {
				t.Errorf("entry of invalid type %d decoded", typ)
			}
		case err != nil || got != e:
			t.Errorf("round trip of %+v = %+v, %v", e, got, err)
		}
	})
}
