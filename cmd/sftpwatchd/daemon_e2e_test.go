package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// received reads the events an exec action `tee -a FILE` appended (a stream
// of JSON objects).
func received(t *testing.T, file string) []event.Event {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var ev event.Event
		if err := dec.Decode(&ev); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("receiver file %s: %v", file, err)
		}
		out = append(out, ev)
	}
}

// teeWatch is a watch whose only action appends every event to file.
func teeWatch(remote, file, extra string) string {
	return fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 200ms\n    settle: 0s\n    types: [file]\n%s    actions:\n      - {type: exec, command: [tee, -a, %q], timeout: 10s}\n", remote, extra, file)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metric returns the value of one sample line of a /metrics scrape ("" if absent).
func metric(t *testing.T, addr, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// metricInt is metric as an integer (0 when absent).
func metricInt(t *testing.T, addr, series string) int {
	t.Helper()
	n, _ := strconv.Atoi(metric(t, addr, series))
	return n
}

func countType(evs []event.Event, typ event.Type, rel string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && e.RelPath == rel {
			n++
		}
	}
	return n
}

func TestRunRestartReportsChangesWhileStoppedOnce(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	past := time.Now().Add(-time.Hour)
	e.put("keep.csv", "k", past)
	e.put("gone.csv", "g", past)
	e.writeConfig(teeWatch(e.remote, recv, ""))

	d := startDaemon(t, nil, "run", "-c", e.config)
	start := time.Now()
	d.waitScan(t)
	e.put("first.csv", "1", past)
	eventually(t, 20*time.Second, "the create of first.csv", func() bool {
		if countType(received(t, recv), event.Create, "first.csv") == 1 {
			return true
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("logs:\n%s", d.logs())
		}
		return false
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}

	// Changes while stopped.
	e.put("while.csv", "w", past)
	e.put("keep.csv", "kk", past.Add(time.Minute))
	os.Remove(filepath.Join(e.remote, "gone.csv"))

	d = startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "the changes made while stopped", func() bool {
		evs := received(t, recv)
		return countType(evs, event.Create, "while.csv") == 1 && countType(evs, event.Modify, "keep.csv") == 1 &&
			countType(evs, event.Delete, "gone.csv") == 1
	})
	// Let a few more scans pass: nothing is repeated.
	time.Sleep(time.Second) // several scan intervals; nothing to poll for an absence
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	evs := received(t, recv)
	if len(evs) != 4 || countType(evs, event.Create, "first.csv") != 1 {
		t.Fatalf("want exactly 4 events (first, while, keep, gone), got %d: %+v", len(evs), evs)
	}
	ids := map[string]bool{}
	for _, ev := range evs {
		if ids[ev.ID] {
			t.Fatalf("id %s delivered twice", ev.ID)
		}
		ids[ev.ID] = true
	}
}

func TestRunOutageGivesErrorScansAndNoDelete(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	addr := freeAddr(t)
	e.writeConfig(teeWatch(e.remote, recv, ""))
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, bytes.Replace(cfg, []byte(`http: {listen: ""}`), []byte(fmt.Sprintf("http: {listen: %q}", addr)), 1), 0o600)

	d := startDaemon(t, nil, "run", "-c", e.config)
	okSeries := `sftpwatchd_scans_total{result="ok",watch="in"}`
	errSeries := `sftpwatchd_scans_total{result="error",watch="in"}`
	eventually(t, 20*time.Second, "an ok scan", func() bool { v := metric(t, addr, okSeries); return v != "" && v != "0" })

	e.srv.Stop()
	eventually(t, 30*time.Second, "error scans during the outage", func() bool {
		v := metric(t, addr, errSeries)
		return v != "" && v != "0" && v != "1"
	})
	e.srv.Restart()
	before := metric(t, addr, okSeries)
	eventually(t, 30*time.Second, "ok scans after the outage", func() bool { return metric(t, addr, okSeries) != before })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if evs := received(t, recv); len(evs) != 0 {
		t.Fatalf("an outage produced events: %+v", evs)
	}
}

func TestRunPermissionDeniedDirIsPartialNoDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to log in as the unprivileged test user")
	}
	srv := sshdtest.Start(t, sshdtest.WithPassword())
	e := &env{t: t, srv: srv, dir: t.TempDir()}
	e.stateDir = filepath.Join(e.dir, "state")
	e.remote = filepath.Join(srv.Root, "upload")
	e.config = filepath.Join(e.dir, "sftpwatchd.yaml")
	past := time.Now().Add(-time.Hour)
	e.put("open/a.csv", "a", past)
	e.put("locked/b.csv", "b", past)
	for _, d := range []string{e.remote, filepath.Join(e.remote, "open"), filepath.Join(e.remote, "locked")} {
		os.Chmod(d, 0o755)
	}
	recv := filepath.Join(e.dir, "events.json")
	addr := freeAddr(t)
	cfg := fmt.Sprintf("state_dir: %q\nhttp: {listen: %q}\nlog: {level: debug}\nhosts:\n  local: {address: %q, user: %q, password: %q, known_hosts_file: %q}\nwatches:\n%s",
		e.stateDir, addr, srv.Addr, srv.User, srv.Password, srv.KnownHostsFile, teeWatch(e.remote, recv, ""))
	os.WriteFile(e.config, []byte(cfg), 0o600)

	d := startDaemon(t, nil, "run", "-c", e.config)
	okSeries := `sftpwatchd_scans_total{result="ok",watch="in"}`
	eventually(t, 20*time.Second, "an ok scan (baseline)", func() bool { v := metric(t, addr, okSeries); return v != "" && v != "0" })
	if err := os.Chmod(filepath.Join(e.remote, "locked"), 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(e.remote, "locked"), 0o755)
	eventually(t, 20*time.Second, "partial scans", func() bool {
		v := metric(t, addr, `sftpwatchd_scans_total{result="partial",watch="in"}`)
		return v != "" && v != "0" && v != "1"
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if evs := received(t, recv); len(evs) != 0 {
		t.Fatalf("a permission-denied directory produced events: %+v", evs)
	}
}
