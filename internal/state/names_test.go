package state

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// nonUTF8 rel paths: legal names on a Linux server whose bytes are not UTF-8.
var nonUTF8 = []string{
	"caf\xe9.txt",
	"sub \xff\xfe/-lead\n$(x)\xe9.csv",
	"\xc3(.bin", // a truncated two-byte sequence
}

// TestNonUTF8NamesKeepTheirBytes: snapshot keys, pending keys, the
// baseline-pending list, outbox items (after Advance set a LocalPath) and
// dead letters give back the exact bytes of names that are not UTF-8.
func TestNonUTF8NamesKeepTheirBytes(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	set, pending := diff.Snapshot{}, map[string]diff.Pending{}
	var evs []event.Event
	for i, p := range nonUTF8 {
		set[p] = diff.Entry{Type: diff.File, Size: int64(i), Mode: 0o644}
		pending["p/"+p] = diff.Pending{Entry: diff.Entry{Type: diff.File, Size: 7}, Since: 1}
		ev := testEvent(event.Create, p)
		evs = append(evs, ev)
	}
	rn := testEvent(event.Rename, "new/"+nonUTF8[0])
	rn.OldRelPath, rn.OldPath = "old/"+nonUTF8[1], "/upload/old/"+nonUTF8[1]
	evs = append(evs, rn)
	committed, err := s.Commit("w", Batch{Set: set, PendingSet: pending, Events: evs,
		BaselinePending: []string{"ok dir", nonUTF8[1]}, SetBaselinePending: true})
	if err != nil {
		t.Fatal(err)
	}
	local := "/data/in/" + nonUTF8[0]
	upd := committed[0]
	upd.LocalPath = local
	if err := s.Advance("w", upd.ID, 1, upd); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter("w", committed[1].ID, "failed on "+nonUTF8[1], time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openT(t, dir)
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range set {
		if got, ok := w.Snapshot[p]; !ok || got != e {
			t.Errorf("snapshot %q = %+v %v, want %+v", p, got, ok, e)
		}
		if _, ok := w.Pending["p/"+p]; !ok {
			t.Errorf("pending %q lost", "p/"+p)
		}
	}
	if len(w.BaselinePending) != 2 || w.BaselinePending[0] != "ok dir" || w.BaselinePending[1] != nonUTF8[1] {
		t.Errorf("baseline pending = %q", w.BaselinePending)
	}
	items, err := s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Event{upd, committed[2], committed[3]}
	if len(items) != len(want) {
		t.Fatalf("%d outbox items, want %d", len(items), len(want))
	}
	for i, it := range items {
		assertEventEqual(t, it.Event, want[i])
	}
	if items[0].Event.LocalPath != local {
		t.Errorf("local path %q, want %q", items[0].Event.LocalPath, local)
	}
	if got := items[2].Event; got.OldRelPath != rn.OldRelPath || got.OldPath != rn.OldPath {
		t.Errorf("rename old paths %q %q, want %q %q", got.OldRelPath, got.OldPath, rn.OldRelPath, rn.OldPath)
	}
	dead, err := s.DeadLetters("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	assertEventEqual(t, dead[0].Event, committed[1])
}

// TestRecordCodecCompanions: a stored record carries base64 companions only
// for names that are not UTF-8, and they decode to the exact bytes.
func TestRecordCodecCompanions(t *testing.T) {
	ev := testEvent(event.Rename, "a/"+nonUTF8[0])
	ev.OldRelPath, ev.OldPath = nonUTF8[2], "/upload/"+nonUTF8[2]
	ev.LocalPath = "/data/a/" + nonUTF8[0]
	b, err := encodeRecord(record{Step: 1, Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{
		"path_b64": ev.Path, "rel_path_b64": ev.RelPath, "name_b64": ev.Name,
		"old_path_b64": ev.OldPath, "local_path_b64": ev.LocalPath, "old_rel_path_b64": ev.OldRelPath,
	} {
		if want := `"` + key + `":"` + base64.StdEncoding.EncodeToString([]byte(v)) + `"`; !strings.Contains(string(b), want) {
			t.Errorf("record lacks %s: %s", want, b)
		}
	}
	r, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Event.Path != ev.Path || r.Event.RelPath != ev.RelPath || r.Event.Name != ev.Name ||
		r.Event.OldPath != ev.OldPath || r.Event.LocalPath != ev.LocalPath || r.Event.OldRelPath != ev.OldRelPath {
		t.Errorf("decoded %+v, want the names of %+v", r.Event, ev)
	}

	plain := testEvent(event.Create, "ünïcödé/x.csv")
	b, err = encodeRecord(record{Event: plain})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "_b64") {
		t.Errorf("a UTF-8 name got a companion: %s", b)
	}
}

// TestDecodeOldFormatRecord: a record and a baseline-pending list written by
// a version without the base64 companions still decode.
func TestDecodeOldFormatRecord(t *testing.T) {
	old := `{"step":2,"attempts":1,"old_rel_path":"a/old.csv","event":{"id":"in-000000000007",` +
		`"watch":"in","host":"partner","type":"rename","path":"/upload/a/b.csv","rel_path":"a/b.csv",` +
		`"name":"b.csv","entry_type":"file","size":1234,"mtime":"2026-11-24T10:00:00Z","mode":"0644",` +
		`"old_path":"/upload/a/old.csv","detected_at":"2026-11-24T10:00:31.123456789Z","local_path":"/data/a/b.csv"}}`
	r, err := decodeRecord([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	ev := r.Event
	if r.Step != 2 || r.Attempts != 1 || ev.ID != "in-000000000007" || ev.RelPath != "a/b.csv" || ev.Name != "b.csv" ||
		ev.OldRelPath != "a/old.csv" || ev.OldPath != "/upload/a/old.csv" || ev.LocalPath != "/data/a/b.csv" || ev.Size != 1234 {
		t.Errorf("old record decoded as %+v", r)
	}
	dirs, err := decodeDirs([]byte(`["a","b c"]`))
	if err != nil || len(dirs) != 2 || dirs[1] != "b c" {
		t.Errorf("old baseline-pending list decoded as %q, %v", dirs, err)
	}
	if _, err := decodeRecord([]byte(`{"event":{"path_b64":"not base64!"}}`)); err == nil {
		t.Error("a broken companion decoded")
	}
}
