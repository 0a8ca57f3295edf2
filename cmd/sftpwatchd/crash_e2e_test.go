package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// TestCrashLosesNothing SIGKILLs the daemon at 50 random moments while the
// tree changes under it and its exec action runs. Afterwards every change
// has been delivered at least once (the consumer's view, built only from
// delivered events, equals the tree), nothing was invented, and an id always
// names the same event.
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	// The receiver takes 100ms per event (the file name is passed as $0 of a
	// fixed script, never interpolated), so kills land mid-delivery.
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 200ms\n    settle: 0s\n    types: [file]\n    initial: emit\n    concurrency: 4\n    actions:\n      - {type: exec, command: [sh, -c, 'sleep 0.1; cat >> \"$0\"', %q], timeout: 10s}\n", e.remote, recv))
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))

	names := []string{"a.csv", "b.csv", "sub/c.csv", "sub/deep/d.csv", "sp ace.csv", "$(touch PWNED).csv", "nl\nname.csv", "ü.csv"}
	tree := map[string]string{} // rel -> content
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	tick := 0
	mutate := func() {
		for i := 0; i < 1+rng.IntN(3); i++ {
			rel := names[rng.IntN(len(names))]
			p := filepath.Join(e.remote, filepath.FromSlash(rel))
			if _, ok := tree[rel]; ok && rng.IntN(3) == 0 {
				os.Remove(p)
				delete(tree, rel)
				continue
			}
			tick++
			content := strings.Repeat("x", 1+rng.IntN(50)) + strconv.Itoa(tick)
			tree[rel] = content
			// Every write gets a distinct mtime, so that each is a change.
			e.put(rel, content, base.Add(time.Duration(tick)*time.Second))
		}
	}

	for i := 0; i < 50; i++ {
		mutate()
		d := startDaemon(t, nil, "run", "-c", e.config)
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond) // a random moment to kill at
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		if strings.Contains(d.logs(), "panic") {
			t.Fatalf("daemon panicked:\n%s", d.logs())
		}
	}
	mutate()

	// A last, clean run delivers whatever is left.
	d := startDaemon(t, nil, "run", "-c", e.config)
	var view map[string]int64
	eventually(t, 60*time.Second, "the consumer view to converge to the tree", func() bool {
		view = consumerView(t, received(t, recv))
		if len(view) != len(tree) {
			return false
		}
		for rel, content := range tree {
			if view[rel] != int64(len(content)) {
				return false
			}
		}
		return true
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	all := received(t, recv)
	unique := map[string]bool{}
	for _, ev := range all {
		unique[ev.ID] = true
	}
	t.Logf("50 kills: %d deliveries of %d distinct events (%d redelivered after a kill)", len(all), len(unique), len(all)-len(unique))
	if _, err := os.Stat(filepath.Join(e.dir, "PWNED")); err == nil {
		t.Fatal("a file name was executed by a shell")
	}
}

// consumerView applies delivered events in id order (redeliveries are
// checked to be identical) and returns rel_path -> size.
func consumerView(t *testing.T, evs []event.Event) map[string]int64 {
	t.Helper()
	byID := map[string]event.Event{}
	for _, ev := range evs {
		if prev, ok := byID[ev.ID]; ok {
			if prev.Type != ev.Type || prev.RelPath != ev.RelPath || prev.Size != ev.Size || !prev.MTime.Equal(ev.MTime) {
				t.Fatalf("id %s delivered as two different events: %+v and %+v", ev.ID, prev, ev)
			}
			continue
		}
		byID[ev.ID] = ev
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids) // fixed-width sequence numbers sort in commit order
	view := map[string]int64{}
	for _, id := range ids {
		ev := byID[id]
		switch ev.Type {
		case event.Create, event.Modify:
			view[ev.RelPath] = ev.Size
		case event.Delete:
			if _, ok := view[ev.RelPath]; !ok {
				t.Fatalf("delete of %q that was never created (invented): %+v", ev.RelPath, ev)
			}
			delete(view, ev.RelPath)
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	return view
}
