package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// promiseConfig writes a config with metrics on addr and one watch "in" of
// the env's remote dir, whose remaining keys (indented 4, under the list
// item) are watch.
func (e *env) promiseConfig(addr, watch string) {
	e.t.Helper()
	cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: 5s\nlog: {level: debug, format: json}\nhttp: {listen: %q}\n%swatches:\n  - name: in\n    host: local\n    path: %q\n    interval: 200ms\n    settle: 0s\n%s",
		e.stateDir, addr, e.hostYAML(), e.remote, watch)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// tempFilesUnder lists the names of temporary download files under dir.
func tempFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".sftpwatchd-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func lines(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// A create whose file is replaced, or deleted, before its turn ends as
// superseded: no dead letter, the download's later steps do not run for
// it, and the later event delivers the file's final state.
func TestSupersededEventIsNotADeadLetter(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	gate := filepath.Join(e.dir, "gate")
	after := filepath.Join(e.dir, "after.txt")
	addr := freeAddr(t)
	// The first step waits for the gate file (its path is $0 of a fixed
	// script), holding each event before its download; concurrency 1 keeps
	// the later events of the same paths behind.
	e.promiseConfig(addr, fmt.Sprintf(`    types: [file]
    concurrency: 1
    actions:
      - {type: exec, command: [sh, -c, 'while [ ! -e "$0" ]; do sleep 0.05; done', %q], timeout: 60s}
      - {type: download, dest: %q}
      - {type: exec, events: [create, modify], command: [sh, -c, 'printf "%%s %%s\n" "$1" "$(cat "$2")" >> "$0"', %q, "{{.RelPath}}", "{{.LocalPath}}"]}
`, gate, dest, after))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)

	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	e.put("victim.csv", "version 1", mtime)
	e.put("doomed.csv", "never delivered", mtime)
	eventually(t, 20*time.Second, "both creates committed", func() bool {
		return metricInt(t, addr, `sftpwatchd_events_total{type="create",watch="in"}`) == 2
	})
	// Overtaken while they wait: one replaced, one deleted.
	e.put("victim.csv", "version 2, the final one", mtime.Add(time.Minute))
	if err := os.Remove(filepath.Join(e.remote, "doomed.csv")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the modify and the delete committed", func() bool {
		return metricInt(t, addr, `sftpwatchd_events_total{type="modify",watch="in"}`) == 1 &&
			metricInt(t, addr, `sftpwatchd_events_total{type="delete",watch="in"}`) == 1
	})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the outbox delivered", func() bool {
		return metric(t, addr, `sftpwatchd_events_pending{watch="in"}`) == "0" &&
			metricInt(t, addr, `sftpwatchd_actions_total{action="download",result="superseded",watch="in"}`) >= 2
	})

	if got, err := os.ReadFile(filepath.Join(dest, "victim.csv")); err != nil || string(got) != "version 2, the final one" {
		t.Fatalf("victim.csv: %q %v, want the final version", got, err)
	}
	if _, err := os.Stat(filepath.Join(dest, "doomed.csv")); !os.IsNotExist(err) {
		t.Fatalf("doomed.csv was delivered: %v", err)
	}
	// The step after the download ran once, for the modify, and saw the
	// final content; never for a superseded event.
	if got := lines(t, after); len(got) != 1 || got[0] != "victim.csv version 2, the final one" {
		t.Fatalf("steps after the download ran for %q", got)
	}
	for series, want := range map[string]string{
		`sftpwatchd_dead_letters{watch="in"}`:                                        "0",
		`sftpwatchd_actions_total{action="download",result="failed",watch="in"}`:     "0",
		`sftpwatchd_actions_total{action="download",result="superseded",watch="in"}`: "2",
	} {
		if got := metric(t, addr, series); got != want {
			t.Errorf("%s = %q, want %q", series, got, want)
		}
	}
	if !strings.Contains(d.logs(), "event superseded by a later change; remaining steps skipped") {
		t.Error("no log line for the superseded events")
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

// kill -9 while a download writes its temporary file; after a restart no
// temporary file is left anywhere in dest (also one planted where no
// download goes) and the file is delivered byte for byte.
func TestKillMidDownloadLeavesNoTempFile(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	addr := freeAddr(t)
	e.promiseConfig(addr, fmt.Sprintf(`    types: [file]
    initial: emit
    actions:
      - {type: download, dest: %q}
`, dest))

	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	var name string
	var data []byte
	killed := false
	for try := 0; try < 3 && !killed; try++ {
		// Larger each try, should a download outrun the 1 ms poll.
		name, data = fmt.Sprintf("big%d.bin", try), make([]byte, (32<<20)<<try)
		_, _ = rand.Read(data)
		p := filepath.Join(e.remote, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		d := startDaemon(t, nil, "run", "-c", e.config)
		deadline := time.Now().Add(60 * time.Second)
		for !hasTempIn(dest) && !exists(filepath.Join(dest, name)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		killed = hasTempIn(dest) && !exists(filepath.Join(dest, name))
		if !killed {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !killed {
		t.Fatal("no kill landed while a temporary file was being written")
	}
	t.Logf("after kill -9 during the download of %s (%d MiB): %q", name, len(data)>>20, tempFilesUnder(t, dest))
	// And one left by an older crash where no download goes.
	planted := filepath.Join(dest, "elsewhere", "deep", ".sftpwatchd-LEFTBYANOLDCRASH.tmp")
	if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 120*time.Second, "the file delivered", func() bool {
		return exists(filepath.Join(dest, name)) && metric(t, addr, `sftpwatchd_events_pending{watch="in"}`) == "0"
	})
	if got, _ := os.ReadFile(filepath.Join(dest, name)); !bytes.Equal(got, data) {
		t.Fatalf("%s is not byte-identical (%d bytes, want %d)", name, len(got), len(data))
	}
	if left := tempFilesUnder(t, dest); len(left) != 0 {
		t.Fatalf("temporary files left after the restart: %q", left)
	}
	if metric(t, addr, `sftpwatchd_dead_letters{watch="in"}`) != "0" {
		t.Fatal("dead letters after the restart")
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// hasTempIn reports whether dir itself holds a temporary download file.
func hasTempIn(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), ".sftpwatchd-") && strings.HasSuffix(de.Name(), ".tmp") {
			return true
		}
	}
	return false
}

// With follow_symlinks a followed link is downloaded as its target, byte
// for byte; flatten with on_delete: remove removes only a file's own copy.
func TestFollowedLinkAndFlattenRemoveOnlyOwn(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	addr := freeAddr(t)
	e.promiseConfig(addr, fmt.Sprintf(`    follow_symlinks: true
    actions:
      - {type: download, dest: %q, flatten: true, on_delete: remove}
`, dest))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	e.put("real/target.bin", string(data), mtime)
	if err := os.Symlink("real/target.bin", filepath.Join(e.remote, "link.bin")); err != nil {
		t.Fatal(err)
	}
	e.put("a/x.csv", "from a", mtime)
	eventually(t, 30*time.Second, "a/x.csv and the link delivered", func() bool {
		got, _ := os.ReadFile(filepath.Join(dest, "x.csv"))
		return string(got) == "from a" && exists(filepath.Join(dest, "link.bin"))
	})
	e.put("b/x.csv", "from b", mtime)
	eventually(t, 30*time.Second, "b/x.csv delivered", func() bool {
		got, _ := os.ReadFile(filepath.Join(dest, "x.csv"))
		return string(got) == "from b"
	})
	if err := os.Remove(filepath.Join(e.remote, "a", "x.csv")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the delete delivered", func() bool {
		return metricInt(t, addr, `sftpwatchd_events_total{type="delete",watch="in"}`) == 1 &&
			metric(t, addr, `sftpwatchd_events_pending{watch="in"}`) == "0"
	})
	if got, _ := os.ReadFile(filepath.Join(dest, "x.csv")); string(got) != "from b" {
		t.Fatalf("x.csv after the delete of a/x.csv: %q, want b's copy kept", got)
	}
	if err := os.Remove(filepath.Join(e.remote, "b", "x.csv")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "b's own copy removed", func() bool { return !exists(filepath.Join(dest, "x.csv")) })
	fi, err := os.Lstat(filepath.Join(dest, "link.bin"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("link.bin: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "link.bin")); !bytes.Equal(got, data) {
		t.Fatal("the followed link's target was not copied byte for byte")
	}
	if metric(t, addr, `sftpwatchd_dead_letters{watch="in"}`) != "0" {
		t.Fatal("dead letters")
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}
