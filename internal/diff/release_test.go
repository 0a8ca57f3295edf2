package diff

import (
	"reflect"
	"testing"
)

// TestRequireRelease: settled files are held (pending kept, settle clock
// kept) until released; released ones are reported; directories, deletes
// and unreleased files that were never settled behave as without the gate.
func TestRequireRelease(t *testing.T) {
	opt := Options{Settle: sec(10), RequireRelease: true, Released: map[string]bool{"ok": true}}
	prev := Snapshot{"old": file(1, m0), "mod": file(1, m0), "gone": file(1, m0)}
	pending := map[string]Pending{
		"held": pend(file(5, m0), sec(60)), // settled long ago, no marker
		"ok":   pend(file(5, m0), sec(60)), // settled, marker present
		"mod":  pend(file(2, m0), sec(60)), // settled modify, no marker
	}
	scan := Scan{Entries: Snapshot{
		"old": file(1, m0), "mod": file(2, m0), "held": file(5, m0), "ok": file(5, m0),
		"fresh": file(3, m0), "d": dir(m0),
	}}
	res := Compare(prev, scan, pending, nil, t0, opt)
	want := []Change{del("gone", file(1, m0)), create("ok", file(5, m0))} // sorted by path
	if !reflect.DeepEqual(res.Changes, want) {
		t.Fatalf("changes:\n%s", formatResult(res))
	}
	if _, ok := res.PendingSet["held"]; ok {
		t.Error("held's unchanged pending record was rewritten (its settle clock restarted)")
	}
	for _, k := range []string{"held", "mod"} {
		for _, r := range res.PendingRemoved {
			if r == k {
				t.Errorf("%s's pending record was removed while it waits for its marker", k)
			}
		}
	}
	if p, ok := res.PendingSet["fresh"]; !ok || p.Since != t0.UnixNano() {
		t.Errorf("fresh: pending = %+v, %v; want a new record since now", p, ok)
	}
	if _, ok := res.PendingSet["d"]; !ok {
		t.Error("directory d got no pending record (it settles as without markers)")
	}

	// Released later: reported at once, settled already.
	opt.Released = map[string]bool{"held": true, "mod": true}
	res = Compare(prev, scan, pending, nil, t0, opt)
	got := map[string]string{}
	for _, c := range res.Changes {
		got[c.RelPath] = string(c.Type)
	}
	if got["held"] != "create" || got["mod"] != "modify" {
		t.Errorf("after release: changes %v, want create held and modify mod", got)
	}
}
