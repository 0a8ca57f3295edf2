package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// Black-box tests of SPEC §4 "More that holds": filter changes, a first
// scan that could not list a directory, state you can trust, latency, and a
// re-upload of a file the daemon moved.

// promiseWatch is a watch named "in" with the given extra settings, whose
// actions append every event to recv (exec tee) after extraActions.
func promiseWatch(remote, recv, extra, extraActions string) string {
	return fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 200ms\n    settle: 0s\n    types: [file]\n%s    actions:\n%s      - {type: exec, command: [tee, -a, %q], timeout: 10s}\n",
		remote, extra, extraActions, recv)
}

// countEvents counts the events of type typ (any path).
func countEvents(evs []event.Event, typ event.Type) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// reload rewrites the config, sends SIGHUP and waits until the daemon has
// logged the filter change n times in all.
func (d *daemonProc) reloadFilter(t *testing.T, e *env, watches string, n int) {
	t.Helper()
	e.writeConfig(watches)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the filter change to be logged", func() bool {
		return strings.Count(d.logs(), `"msg":"filter changed`) >= n
	})
}

// TestFilterChangeIsNoServerChange: narrowing include and reloading sends
// no delete and removes no local copy; widening again sends no create with
// `initial: baseline`, and creates with `initial: emit`; files changed while
// covered throughout are reported as ever. For both listers.
func TestFilterChangeIsNoServerChange(t *testing.T) {
	for _, lister := range []string{"sftp", "find"} {
		t.Run("lister="+lister, func(t *testing.T) {
			e := newEnv(t)
			recv := filepath.Join(e.dir, "events.json")
			dest := filepath.Join(e.dir, "dest")
			past := time.Now().Add(-time.Hour)
			for _, rel := range []string{"a.csv", "b.txt", "sub/c.csv", "sub/d.txt"} {
				e.put(rel, rel, past)
			}
			download := fmt.Sprintf("      - {type: download, dest: %q, on_delete: remove}\n", dest)
			watch := func(include string) string {
				return promiseWatch(e.remote, recv, "    initial: emit\n    lister: "+lister+"\n"+include, download)
			}
			e.writeConfig(watch(""))
			d := startDaemon(t, nil, "run", "-c", e.config)
			eventually(t, 20*time.Second, "the 4 first creates and their downloads", func() bool {
				return countEvents(received(t, recv), event.Create) == 4
			})

			// Narrow: b.txt and sub/d.txt are no longer covered.
			d.reloadFilter(t, e, watch("    include: [\"**/*.csv\"]\n"), 1)
			if !strings.Contains(d.logs(), `"dropped":2,"added":0`) {
				t.Errorf("the filter change's log line does not count 2 dropped, 0 added:\n%s", d.logs())
			}
			e.put("new.csv", "n", past) // covered before and after
			eventually(t, 20*time.Second, "the create of new.csv", func() bool {
				return countType(received(t, recv), event.Create, "new.csv") == 1
			})
			for _, rel := range []string{"b.txt", "sub/d.txt"} {
				if _, err := os.Stat(filepath.Join(dest, rel)); err != nil {
					t.Errorf("local copy of %s after narrowing the filter: %v", rel, err)
				}
			}

			// Widen again, with emit: the newly covered files are creates.
			e.put("later.txt", "l", past) // uploaded while not covered
			d.reloadFilter(t, e, watch(""), 2)
			eventually(t, 20*time.Second, "creates of the newly covered files", func() bool {
				evs := received(t, recv)
				return countType(evs, event.Create, "b.txt") == 2 && countType(evs, event.Create, "sub/d.txt") == 2 &&
					countType(evs, event.Create, "later.txt") == 1
			})
			if n := countEvents(received(t, recv), event.Delete); n != 0 {
				t.Errorf("%d delete events over two filter changes, want 0", n)
			}

			// Narrow and widen with baseline: nothing at all.
			base := func(include string) string {
				return promiseWatch(e.remote, recv, "    initial: baseline\n    lister: "+lister+"\n"+include, download)
			}
			before := len(received(t, recv))
			d.reloadFilter(t, e, base("    include: [\"*.csv\"]\n"), 3)
			d.reloadFilter(t, e, base(""), 4)
			e.put("sync.csv", "s", past)
			eventually(t, 20*time.Second, "the create of sync.csv", func() bool {
				return countType(received(t, recv), event.Create, "sync.csv") == 1
			})
			if evs := received(t, recv); len(evs) != before+1 {
				t.Errorf("narrowing and widening with baseline sent %d events besides sync.csv's create: %+v", len(evs)-before-1, evs[before:])
			}
			if code := d.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
			}
			// A restart with another filter is a change too.
			e.writeConfig(base("    exclude: [\"sub\"]\n"))
			d = startDaemon(t, nil, "run", "-c", e.config)
			eventually(t, 20*time.Second, "the filter change after a restart", func() bool {
				return strings.Contains(d.logs(), `"msg":"filter changed`) && strings.Contains(d.logs(), `"dropped":2`)
			})
			d.waitScans(t, 2)
			if code := d.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
			}
			if n := countEvents(received(t, recv), event.Delete); n != 0 {
				t.Errorf("%d delete events after a restart with an exclude, want 0", n)
			}
			if _, err := os.Stat(filepath.Join(dest, "sub", "c.csv")); err != nil {
				t.Errorf("local copy of sub/c.csv after excluding sub: %v", err)
			}
		})
	}
}

// TestFirstScanPartialDirBaselinedSilently: a directory that cannot be
// listed during the baseline reports nothing when it lists later.
func TestFirstScanPartialDirBaselinedSilently(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to log in as the unprivileged test user (root reads a 000 directory)")
	}
	srv := sshdtest.Start(t, sshdtest.WithPassword())
	e := &env{t: t, srv: srv, dir: t.TempDir()}
	e.stateDir = filepath.Join(e.dir, "state")
	e.remote = filepath.Join(srv.Root, "upload")
	e.config = filepath.Join(e.dir, "sftpwatchd.yaml")
	past := time.Now().Add(-time.Hour)
	e.put("open/a.csv", "a", past)
	e.put("locked/b.csv", "b", past)
	e.put("locked/deeper/c.csv", "c", past)
	locked := filepath.Join(e.remote, "locked")
	for _, d := range []string{e.remote, filepath.Join(e.remote, "open"), locked, filepath.Join(locked, "deeper")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(locked, 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	recv := filepath.Join(e.dir, "events.json")
	cfg := fmt.Sprintf("state_dir: %q\nhttp: {listen: \"\"}\nlog: {level: debug, format: json}\nhosts:\n  local: {address: %q, user: %q, password: %q, known_hosts_file: %q}\nwatches:\n%s",
		e.stateDir, srv.Addr, srv.User, srv.Password, srv.KnownHostsFile, promiseWatch(e.remote, recv, "", ""))
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "a partial baseline", func() bool {
		return strings.Contains(d.logs(), `"msg":"scan finished","watch":"in","result":"partial"`)
	})
	if err := os.Chmod(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "an ok scan", func() bool {
		return strings.Contains(d.logs(), `"msg":"scan finished","watch":"in","result":"ok"`)
	})
	e.put("locked/new.csv", "n", past) // a real create in the directory, after it listed
	eventually(t, 20*time.Second, "the create of locked/new.csv", func() bool {
		return countType(received(t, recv), event.Create, "locked/new.csv") == 1
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if evs := received(t, recv); len(evs) != 1 {
		t.Errorf("files there all along were reported when their directory first listed: %+v", evs)
	}
}

// TestUntrustworthyStateRefused: an empty (truncated) state file and a
// foreign one are refused with exit 1, an error naming the file and the
// fix, and are left as they are.
func TestUntrustworthyStateRefused(t *testing.T) {
	for _, tc := range []struct {
		name, content, says string
	}{
		{"empty", "", "is empty: restore it from a backup, or remove it to start over"},
		{"foreign", "# my notes\nnot a database\n", "is not an sftpwatchd state file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			recv := filepath.Join(e.dir, "events.json")
			e.writeConfig(promiseWatch(e.remote, recv, "", ""))
			e.put("a.csv", "a", time.Now().Add(-time.Hour))
			if r := sftpwatchd(t, nil, "once", "-c", e.config); r.code != 0 {
				t.Fatalf("first once: exit %d\n%s", r.code, r.stderr)
			}
			db := filepath.Join(e.stateDir, "state.db")
			if err := os.WriteFile(db, []byte(tc.content), 0o600); err != nil { // `: > state.db`
				t.Fatal(err)
			}
			for _, cmd := range []string{"once", "run"} {
				r := sftpwatchd(t, nil, cmd, "-c", e.config)
				if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("%q %s", db, tc.says)) {
					t.Errorf("%s with a %s state file: exit %d, stderr:\n%s", cmd, tc.name, r.code, r.stderr)
				}
			}
			if got, err := os.ReadFile(db); err != nil || string(got) != tc.content {
				t.Errorf("the refused state file was changed: %q %v", got, err)
			}
			if evs := received(t, recv); len(evs) != 0 {
				t.Errorf("events with a refused state file: %+v", evs)
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size at dir, skipping loudly when that is
// not possible (failing under CI).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("\n*** cannot mount a tmpfs (%v: %s): SKIPPING the full-disk test; it needs root. ***", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "\nCI=true, so this is a failure.")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fill writes a file into dir until the filesystem is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return p
		}
	}
}

// TestStateDiskFull: with the state disk full, scans are not committed
// (error scans, no events), counted in commit_errors_total and logged at
// most once a minute; once space is freed, the next scan commits and what
// happened meanwhile is delivered.
func TestStateDiskFull(t *testing.T) {
	e := newEnv(t)
	mnt := filepath.Join(e.dir, "statefs")
	mountTmpfs(t, mnt, "2m")
	e.stateDir = filepath.Join(mnt, "state")
	recv := filepath.Join(e.dir, "events.json") // not on the full disk
	addr := freeAddr(t)
	e.writeConfig(promiseWatch(e.remote, recv, "", ""))
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, []byte(strings.Replace(string(cfg), `http: {listen: ""}`, fmt.Sprintf("http: {listen: %q}", addr), 1)), 0o600)
	past := time.Now().Add(-time.Hour)
	e.put("before.csv", "b", past)

	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	filler := fill(t, mnt)
	// Enough new files that a commit needs pages the state file has not
	// got: a long name each, and an outbox record.
	const n = 400
	for i := range n {
		e.put(fmt.Sprintf("during/%s-%03d.csv", strings.Repeat("x", 80), i), "d", past)
	}
	errSeries := `sftpwatchd_commit_errors_total{watch="in"}`
	eventually(t, 30*time.Second, "5 failed commits", func() bool {
		v, err := strconv.ParseFloat(metric(t, addr, errSeries), 64)
		return err == nil && v >= 5
	})
	if v := metric(t, addr, `sftpwatchd_scans_total{result="error",watch="in"}`); v == "" || v == "0" {
		t.Errorf("scans_total{error} = %q while commits fail", v)
	}
	if got := strings.Count(d.logs(), "scan not committed"); got != 1 || !strings.Contains(d.logs(), "no space left on device") {
		t.Errorf("%d 'scan not committed' log lines within a minute (want 1, saying the disk is full):\n%s", got, d.logs())
	}
	if evs := received(t, recv); len(evs) != 0 {
		t.Fatalf("%d events delivered while nothing could be committed", len(evs))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "every create delivered after space returned", func() bool {
		return countEvents(received(t, recv), event.Create) == n
	})
	if !strings.Contains(d.logs(), "state commits work again") {
		t.Error("the recovery was not logged")
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

// scanTook returns the longest scan duration the daemon logged.
func scanTook(t *testing.T, logs string) time.Duration {
	t.Helper()
	var longest time.Duration
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"msg":"scan finished"`) {
			continue
		}
		var line struct {
			Took any `json:"took"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		var d time.Duration
		switch v := line.Took.(type) {
		case float64:
			d = time.Duration(v * float64(time.Second))
		case string:
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				t.Fatalf("took %q: %v", v, err)
			}
		}
		longest = max(longest, d)
	}
	return longest
}

// TestFirstActionLatency: with interval 1s and settle 1s, each file's first
// action starts within settle + interval + the scan's duration + 1 s of
// its last change (its mtime), for files written at random moments.
func TestFirstActionLatency(t *testing.T) {
	e := newEnv(t)
	starts := filepath.Join(e.dir, "starts.txt")
	script := fmt.Sprintf(`echo "$SFTPWATCHD_REL_PATH $(date +%%s.%%N)" >> %s`, starts)
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 1s\n    settle: 1s\n    types: [file]\n    actions:\n      - {type: exec, command: [/bin/sh, -c, %q], timeout: 10s}\n",
		e.remote, script))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const files = 24
	mtimes := map[string]time.Time{}
	for i := range files {
		time.Sleep(time.Duration(r.IntN(700)) * time.Millisecond) // random moments, not a condition
		rel := fmt.Sprintf("f%02d.csv", i)
		p := filepath.Join(e.remote, rel)
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[rel] = fi.ModTime()
	}
	seen := map[string]time.Time{}
	eventually(t, 30*time.Second, "every file's action", func() bool {
		data, _ := os.ReadFile(starts)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			rel, ts, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			sec, err := strconv.ParseFloat(ts, 64)
			if err != nil {
				t.Fatalf("start line %q: %v", line, err)
			}
			if _, dup := seen[rel]; !dup {
				seen[rel] = time.Unix(0, int64(sec*1e9))
			}
		}
		return len(seen) == files
	})
	bound := time.Second + time.Second + scanTook(t, d.logs()) + time.Second
	var worst time.Duration
	for rel, mt := range mtimes {
		lat := seen[rel].Sub(mt)
		worst = max(worst, lat)
		if lat > bound {
			t.Errorf("%s: first action started %v after its last change, bound %v", rel, lat, bound)
		}
	}
	t.Logf("worst latency %v of %d files (bound %v)", worst, files, bound)
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

// TestReuploadAfterMoveIsCreate: a file the daemon moved away and that is
// uploaded again under the same name, with the same size and mtime, is a
// create: both right after the move (before the next scan) and after a
// scan saw it gone.
func TestReuploadAfterMoveIsCreate(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	done := filepath.Join(e.remote, ".done")
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 2s\n    settle: 0s\n    types: [file]\n    exclude: [\".done\"]\n    actions:\n      - {type: exec, command: [tee, -a, %q], timeout: 10s}\n      - {type: move, to: %q}\n",
		e.remote, recv, done))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	mt := time.Now().Add(-time.Hour).Truncate(time.Second)
	moved := func(n int) func() bool {
		return func() bool {
			entries, _ := os.ReadDir(done)
			_, err := os.Stat(filepath.Join(e.remote, "x.csv"))
			return len(entries) >= n && os.IsNotExist(err)
		}
	}
	e.put("x.csv", "same", mt)
	eventually(t, 20*time.Second, "x.csv moved", moved(1))
	// At once, before the next scan (interval 2s).
	if err := os.Rename(filepath.Join(done, "x.csv"), filepath.Join(done, "x.csv.1")); err != nil {
		t.Fatal(err)
	}
	e.put("x.csv", "same", mt)
	eventually(t, 20*time.Second, "the second create of x.csv", func() bool {
		return countType(received(t, recv), event.Create, "x.csv") == 2
	})
	eventually(t, 20*time.Second, "x.csv moved again", moved(2))
	d.waitScans(t, strings.Count(d.logs(), `"msg":"scan finished","watch":"in","result":"ok"`)+1) // it is seen gone
	if err := os.Rename(filepath.Join(done, "x.csv"), filepath.Join(done, "x.csv.2")); err != nil {
		t.Fatal(err)
	}
	e.put("x.csv", "same", mt)
	eventually(t, 20*time.Second, "the third create of x.csv", func() bool {
		return countType(received(t, recv), event.Create, "x.csv") == 3
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if n := countEvents(received(t, recv), event.Delete); n != 0 {
		t.Errorf("%d delete events for files the daemon moved, want 0", n)
	}
}
