package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
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

// chaosKillsEnv sets the number of SIGKILLs of TestChaosKillLoop; `make
// chaos` runs it with 200, `make test` with the default.
const chaosKillsEnv = "SFTPWATCHD_CHAOS_KILLS"

// chaosTree is the writer's model of the remote tree: what is there now, and
// every (rel_path, size, mtime) the server ever showed, so that an event that
// describes anything else is known to be invented.
type chaosTree struct {
	e       *env
	rng     *rand.Rand
	names   []string
	now     map[string][]byte // rel -> content
	mtime   map[string]time.Time
	seen    map[string]bool // "rel\x00size\x00mtime" -> ever existed
	existed map[string]bool // rel -> ever existed
	base    time.Time
	tick    int
	ops     map[string]int
}

func newChaosTree(e *env, rng *rand.Rand) *chaosTree {
	c := &chaosTree{e: e, rng: rng, now: map[string][]byte{}, mtime: map[string]time.Time{},
		seen: map[string]bool{}, existed: map[string]bool{}, ops: map[string]int{},
		base: time.Now().Add(-48 * time.Hour).Truncate(time.Second)}
	for d := 0; d < 10; d++ {
		for f := 0; f < 30; f++ {
			c.names = append(c.names, fmt.Sprintf("d%d/f%02d.dat", d, f))
		}
	}
	c.names = append(c.names, "top.dat", "sp ace.dat", "$(touch PWNED).dat", "nl\nname.dat", "ü ñ.dat", "d0/deep/er/x.dat")
	return c
}

func (c *chaosTree) path(rel string) string {
	return filepath.Join(c.e.remote, filepath.FromSlash(rel))
}

// nextMtime gives every write its own whole-second mtime (SFTP v3 carries
// seconds), so that every content change is a visible change.
func (c *chaosTree) nextMtime() time.Time {
	c.tick++
	return c.base.Add(time.Duration(c.tick) * time.Second)
}

func (c *chaosTree) record(rel string) {
	c.existed[rel] = true
	c.seen[fmt.Sprintf("%s\x00%d\x00%d", rel, len(c.now[rel]), c.mtime[rel].Unix())] = true
}

func (c *chaosTree) content() []byte {
	n := 1 + c.rng.IntN(3000)
	if c.rng.IntN(25) == 0 {
		n = 1<<20 + c.rng.IntN(3<<20) // large enough for kills to land mid-download
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + c.rng.IntN(26))
	}
	return b
}

func (c *chaosTree) pick(present bool) (string, bool) {
	for range 20 {
		rel := c.names[c.rng.IntN(len(c.names))]
		if _, ok := c.now[rel]; ok == present {
			return rel, true
		}
	}
	return "", false
}

// mutate makes a few changes: create, append in place, replace by rename,
// rename, delete.
func (c *chaosTree) mutate() {
	t := c.e.t
	for range 2 + c.rng.IntN(10) {
		switch op := c.rng.IntN(5); op {
		case 0: // create
			rel, ok := c.pick(false)
			if !ok {
				continue
			}
			c.write(rel, c.content())
			c.ops["create"]++
		case 1: // append in place: one write, then a new mtime
			rel, ok := c.pick(true)
			if !ok {
				continue
			}
			more := bytes.Repeat([]byte{byte('A' + c.rng.IntN(26))}, 1+c.rng.IntN(200))
			f, err := os.OpenFile(c.path(rel), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(more); err != nil {
				t.Fatal(err)
			}
			f.Close()
			c.now[rel] = append(c.now[rel], more...)
			c.record(rel) // the old mtime with the new size was visible
			mt := c.nextMtime()
			if err := os.Chtimes(c.path(rel), mt, mt); err != nil {
				t.Fatal(err)
			}
			c.mtime[rel] = mt
			c.record(rel)
			c.ops["append"]++
		case 2: // replace: a hidden temp file renamed over it
			rel, ok := c.pick(true)
			if !ok {
				continue
			}
			c.write(rel, c.content())
			c.ops["replace"]++
		case 3: // rename to a free name
			from, ok1 := c.pick(true)
			to, ok2 := c.pick(false)
			if !ok1 || !ok2 {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(c.path(to)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(c.path(from), c.path(to)); err != nil {
				t.Fatal(err)
			}
			c.now[to], c.mtime[to] = c.now[from], c.mtime[from]
			delete(c.now, from)
			c.record(to)
			c.ops["rename"]++
		case 4: // delete
			rel, ok := c.pick(true)
			if !ok {
				continue
			}
			if err := os.Remove(c.path(rel)); err != nil {
				t.Fatal(err)
			}
			delete(c.now, rel)
			c.ops["delete"]++
		}
	}
}

// write puts content at rel atomically (hidden temp file, then rename), as
// an uploader that renames into place does.
func (c *chaosTree) write(rel string, content []byte) {
	t := c.e.t
	p := c.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), ".up-"+strconv.Itoa(c.tick))
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		t.Fatal(err)
	}
	mt := c.nextMtime()
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	c.now[rel], c.mtime[rel] = content, mt
	c.record(rel)
}

// TestChaosKillLoop SIGKILLs the daemon at random moments while a writer
// creates, appends to, replaces, renames and deletes a few hundred paths, and
// the watch downloads every file and posts every event to a webhook that
// sometimes answers 503. Afterwards: every final remote state was delivered
// (lost 0), every delivered event describes a state the server really showed
// (invented 0), the dest copies are byte-identical to the tree with nothing
// extra, and there are no dead letters, no temporary files and no panics.
func TestChaosKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: -short")
	}
	kills := 30
	if v := os.Getenv(chaosKillsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", chaosKillsEnv, v)
		}
		kills = n
	}
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(7, seed))
	t.Logf("seed %d, %d kills", seed, kills)

	hook := &hookReceiver{t: t, secret: "chaos"}
	hook.status = func(event.Event) int {
		if rand.IntN(20) == 0 {
			return 503 // retried
		}
		return 204
	}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	writeCfg := func(listen string) {
		cfg := fmt.Sprintf(`state_dir: %q
shutdown_timeout: 5s
log: {level: debug, format: json}
http: {listen: %q}
%swatches:
  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    initial: emit
    exclude: ["**/.*"]
    concurrency: 4
    retry: {max_attempts: 10, initial_backoff: 50ms, max_backoff: 500ms}
    actions:
      - {type: download, dest: %q, on_delete: remove}
      - {type: webhook, url: %q, secret: %q, timeout: 5s}
`, e.stateDir, listen, e.hostYAML(), e.remote, dest, hs.URL, hook.secret)
		if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("")

	tree := newChaosTree(e, rng)
	for range 150 {
		if rel, ok := tree.pick(false); ok {
			tree.write(rel, tree.content())
		}
	}
	var logs strings.Builder
	for range kills {
		tree.mutate()
		d := startDaemon(t, nil, "run", "-c", e.config)
		time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond) // a random moment to kill at
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		logs.WriteString(d.logs())
	}
	tree.mutate()

	// A last, clean run delivers whatever is left.
	addr := freeAddr(t)
	writeCfg(addr)
	d := startDaemon(t, nil, "run", "-c", e.config)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		viewDiff, destDiff := viewMatches(chaosView(hook.got()), tree), destMatches(t, dest, tree)
		if viewDiff == "" && destDiff == "" {
			break
		}
		if time.Now().After(deadline) {
			var gaveUp []string
			for _, l := range strings.Split(logs.String()+d.logs(), "\n") {
				if strings.Contains(l, `"msg":"event dead-lettered"`) {
					gaveUp = append(gaveUp, l)
				}
			}
			t.Fatalf("not converged after 3m (seed %d)\nwebhook view: %s\ndest: %s\ndead letters:\n%s", seed, viewDiff, destDiff, strings.Join(gaveUp, "\n"))
		}
	}
	if n := metricInt(t, addr, `sftpwatchd_dead_letters{watch="in"}`); n != 0 {
		t.Errorf("dead letters: %d, want 0", n)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	logs.WriteString(d.logs())

	all := hook.got()
	invented := chaosInvented(t, all, tree)
	ids := map[string]bool{}
	for _, ev := range all {
		ids[ev.ID] = true
	}
	temps := tempFiles(t, dest)
	deadLetters := strings.Count(logs.String(), `"msg":"event dead-lettered"`)
	panics := strings.Count(logs.String(), "panic")
	t.Logf("%d kills, ops %v: %d deliveries of %d distinct events; lost 0, invented %d, dead letters %d, temporary files %d, panics %d",
		kills, tree.ops, len(all), len(ids), invented, deadLetters, len(temps), panics)
	if invented != 0 || deadLetters != 0 || len(temps) != 0 || panics != 0 {
		t.Fatalf("invented %d, dead letters %d, temporary files %v, panics %d", invented, deadLetters, temps, panics)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "PWNED")); err == nil {
		t.Fatal("a file name was executed by a shell")
	}
}

// chaosView applies delivered events in id (commit) order; the last event
// of a path decides whether and how it exists.
func chaosView(evs []event.Event) map[string]event.Event {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	view := map[string]event.Event{}
	for _, ev := range evs {
		if ev.Type == event.Delete {
			delete(view, ev.RelPath)
			continue
		}
		view[ev.RelPath] = ev
	}
	return view
}

// viewMatches reports how the webhook's view differs from the tree ("" when
// it does not).
func viewMatches(view map[string]event.Event, tree *chaosTree) string {
	var diff strings.Builder
	for rel, content := range tree.now {
		ev, ok := view[rel]
		switch {
		case !ok:
			fmt.Fprintf(&diff, "missing %q; ", rel)
		case ev.Size != int64(len(content)) || !ev.MTime.Equal(tree.mtime[rel]):
			fmt.Fprintf(&diff, "%q is %d/%v, want %d/%v; ", rel, ev.Size, ev.MTime, len(content), tree.mtime[rel])
		}
	}
	for rel := range view {
		if _, ok := tree.now[rel]; !ok {
			fmt.Fprintf(&diff, "extra %q; ", rel)
		}
	}
	return diff.String()
}

// destMatches reports how dest differs from the tree ("" when identical).
func destMatches(t *testing.T, dest string, tree *chaosTree) string {
	t.Helper()
	found := map[string]bool{}
	var diff strings.Builder
	_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dest, p)
		rel = filepath.ToSlash(rel)
		found[rel] = true
		want, ok := tree.now[rel]
		if !ok {
			fmt.Fprintf(&diff, "extra %q; ", rel)
			return nil
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			fmt.Fprintf(&diff, "differs %q; ", rel)
		}
		return nil
	})
	for rel := range tree.now {
		if !found[rel] {
			fmt.Fprintf(&diff, "missing %q; ", rel)
		}
	}
	return diff.String()
}

// chaosInvented counts delivered events that describe nothing the server
// ever showed, and fails on an id delivered as two different events.
func chaosInvented(t *testing.T, evs []event.Event, tree *chaosTree) int {
	t.Helper()
	byID := map[string]event.Event{}
	invented := 0
	for _, ev := range evs {
		if prev, ok := byID[ev.ID]; ok {
			if prev.Type != ev.Type || prev.RelPath != ev.RelPath || prev.Size != ev.Size || !prev.MTime.Equal(ev.MTime) {
				t.Errorf("id %s delivered as two different events: %+v and %+v", ev.ID, prev, ev)
			}
			continue
		}
		byID[ev.ID] = ev
		switch ev.Type {
		case event.Create, event.Modify:
			if !tree.seen[fmt.Sprintf("%s\x00%d\x00%d", ev.RelPath, ev.Size, ev.MTime.Unix())] {
				t.Errorf("invented: %s %q size %d mtime %v never existed", ev.Type, ev.RelPath, ev.Size, ev.MTime)
				invented++
			}
		case event.Delete:
			if !tree.existed[ev.RelPath] {
				t.Errorf("invented: delete of %q, which never existed", ev.RelPath)
				invented++
			}
		default:
			t.Errorf("unexpected event %+v", ev)
			invented++
		}
	}
	return invented
}

// tempFiles lists the download action's temporary files left in dest.
func tempFiles(t *testing.T, dest string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".sftpwatchd-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
