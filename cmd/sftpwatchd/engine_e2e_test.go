package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

var idPattern = regexp.MustCompile(`^in-\d{12}$`)

// onceJSON runs `once --json` and returns its events.
func (e *env) onceJSON(args ...string) []event.Event {
	e.t.Helper()
	r := sftpwatchd(e.t, nil, append([]string{"once", "--json", "-c", e.config}, args...)...)
	if r.code != 0 {
		e.t.Fatalf("once %v: exit %d\nstdout %s\nstderr %s", args, r.code, r.stdout, r.stderr)
	}
	return parseEvents(e.t, r.stdout)
}

func TestOnceCreateModifyDelete(t *testing.T) {
	e := newEnv(t)
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	e.put("old.csv", "old", past)
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, interval: 1s, settle: 0s, types: [file]}\n", e.remote))

	// A dry run before anything is stored creates nothing.
	if evs := e.onceJSON("--dry-run"); len(evs) != 0 {
		t.Fatalf("dry run of a baseline emitted %v", evs)
	}
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Fatalf("a dry run created the state dir: %v", err)
	}
	if evs := e.onceJSON(); len(evs) != 0 {
		t.Fatalf("first scan (initial: baseline) emitted %v", evs)
	}

	e.put("a/new.csv", "12345", past)
	evs := e.onceJSON()
	if len(evs) != 1 {
		t.Fatalf("after a create: %d events %+v", len(evs), evs)
	}
	c := evs[0]
	if c.Type != event.Create || c.Watch != "in" || c.Host != "local" || c.RelPath != "a/new.csv" ||
		c.Path != e.remote+"/a/new.csv" || c.Name != "new.csv" || c.EntryType != "file" || c.Size != 5 ||
		!c.MTime.Equal(past) || c.Mode != "0644" || c.Prev != nil || c.OldPath != "" || c.LocalPath != "" ||
		!idPattern.MatchString(c.ID) || time.Since(c.DetectedAt) > time.Minute {
		t.Fatalf("create event fields: %+v", c)
	}
	if evs := e.onceJSON(); len(evs) != 0 {
		t.Fatalf("rescan repeated events: %+v", evs)
	}

	later := past.Add(time.Minute)
	e.put("a/new.csv", "1234567", later)
	evs = e.onceJSON()
	if len(evs) != 1 || evs[0].Type != event.Modify || evs[0].Size != 7 || evs[0].Prev == nil ||
		evs[0].Prev.Size != 5 || !evs[0].Prev.MTime.Equal(past) || !evs[0].MTime.Equal(later) || evs[0].ID <= c.ID {
		t.Fatalf("modify: %+v", evs)
	}

	os.Remove(filepath.Join(e.remote, "a/new.csv"))
	evs = e.onceJSON()
	if len(evs) != 1 || evs[0].Type != event.Delete || evs[0].RelPath != "a/new.csv" || evs[0].Prev == nil || evs[0].Prev.Size != 7 {
		t.Fatalf("delete: %+v", evs)
	}

	// --dry-run shows what would happen and changes nothing.
	e.put("dry.csv", "x", past)
	dry := e.onceJSON("--dry-run")
	if len(dry) != 1 || dry[0].Type != event.Create || dry[0].RelPath != "dry.csv" || dry[0].ID != "" {
		t.Fatalf("dry run: %+v", dry)
	}
	real := e.onceJSON()
	if len(real) != 1 || real[0].RelPath != "dry.csv" {
		t.Fatalf("scan after a dry run: %+v", real)
	}
}

func TestOnceSettleGivesOneCreateWithFinalSize(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, interval: 1s, settle: 1s, initial: emit}\n", e.remote))
	p := filepath.Join(e.remote, "growing.bin")
	var all []event.Event
	content := ""
	for i := 0; i < 4; i++ {
		content += "chunk-"
		os.WriteFile(p, []byte(content), 0o644)
		// A new mtime second for every append, as a slow upload has.
		mt := time.Now().Add(time.Duration(i-10) * time.Second)
		os.Chtimes(p, mt, mt)
		all = append(all, e.onceJSON()...)
	}
	if len(all) != 0 {
		t.Fatalf("events before the file settled: %+v", all)
	}
	eventually(t, 30*time.Second, "the settled create", func() bool {
		all = append(all, e.onceJSON()...)
		return len(all) > 0
	})
	if len(all) != 1 || all[0].Type != event.Create || all[0].Size != int64(len(content)) {
		t.Fatalf("want one create with size %d, got %+v", len(content), all)
	}
}

func TestOnceStateDirInUse(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, interval: 1h}\n", e.remote))
	d := startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "the daemon to take the state dir", func() bool {
		return strings.Contains(d.logs(), "sftpwatchd running")
	})
	r := sftpwatchd(t, nil, "once", "-c", e.config)
	if r.code != 2 || !strings.Contains(r.stderr, e.stateDir) || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("second process on the state dir: exit %d stderr %q", r.code, r.stderr)
	}
	if code := d.stop(t, 15); code != 0 {
		t.Fatalf("SIGTERM: exit %d; logs:\n%s", code, d.logs())
	}
}
