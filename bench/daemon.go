package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// daemonRun is what `sftpwatchd run` did over a series of scans.
type daemonRun struct {
	entries      int
	firstScan    time.Duration   // the baseline scan ("took")
	rescanCPU    []time.Duration // CPU between consecutive unchanged scans
	rescanTook   []time.Duration
	writeBytes   int64  // /proc/pid/io write_bytes during the unchanged rescans
	txids        uint64 // bbolt transactions committed during them
	stateChanged bool   // state.db content differs before/after them
	hwmKiB       int64  // VmHWM at the end
	rssKiB       int64  // VmRSS at the end
	anonKiB      int64  // RssAnon at the end: the heap and stacks
	fileKiB      int64  // RssFile at the end: mapped files (state.db, the binary)
	dbBytes      int64  // size of state.db at the end
	peakAnonKiB  int64  // highest RssAnon sampled (every 50 ms)
	peakFileKiB  int64  // highest RssFile sampled
}

// runDaemon starts `sftpwatchd run` on root (through tg) with interval
// and waits for 1 + rescans "scan finished" lines, sampling the process
// at each.
func (e *env) runDaemon(name string, tg target, root string, entries int, interval time.Duration, rescans int) (*daemonRun, error) {
	stateDir := filepath.Join(e.work, "state-"+name)
	os.RemoveAll(stateDir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	listen := l.Addr().String()
	l.Close()
	extra := fmt.Sprintf("    interval: %s\n    actions:\n      - type: log\n", interval)
	cfg, err := e.watchConfig("run-"+name, tg, root, stateDir, listen, extra)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "run", "-c", cfg)
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-done
		}
	}()
	pid := cmd.Process.Pid
	dbPath := filepath.Join(stateDir, "state.db")
	res := &daemonRun{entries: entries}
	// VmHWM is the peak of heap and mapped file pages together; sample the
	// two apart to say which one the peak is.
	var peakMu sync.Mutex
	stopSampling := make(chan struct{})
	samplingDone := make(chan struct{})
	go func() {
		defer close(samplingDone)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			a, errA := procValue(pid, "status", "RssAnon")
			f, errF := procValue(pid, "status", "RssFile")
			peakMu.Lock()
			if errA == nil {
				res.peakAnonKiB = max(res.peakAnonKiB, a)
			}
			if errF == nil {
				res.peakFileKiB = max(res.peakFileKiB, f)
			}
			peakMu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stopSampling); <-samplingDone }()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		scans   int
		lastCPU time.Duration
		wb0     int64
		tx0     uint64
		hash0   [32]byte
		tail    []string
	)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"scan finished"`)) {
			tail = append(tail, string(line))
			if len(tail) > 20 {
				tail = tail[1:]
			}
			continue
		}
		cpu, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		var ev struct {
			Result  string `json:"result"`
			Entries int    `json:"entries"`
			Events  int    `json:"events"`
			Took    any    `json:"took"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("parse %q: %w", line, err)
		}
		if ev.Result != "ok" {
			return nil, fmt.Errorf("scan %d: result %s: %s", scans+1, ev.Result, line)
		}
		if ev.Entries != entries {
			return nil, fmt.Errorf("scan %d saw %d entries, want %d", scans+1, ev.Entries, entries)
		}
		took := parseTook(ev.Took)
		if scans == 0 {
			res.firstScan = took
			if wb0, err = procValue(pid, "io", "write_bytes"); err != nil {
				return nil, err
			}
			if tx0, hash0, err = boltState(dbPath); err != nil {
				return nil, err
			}
		} else {
			if ev.Events != 0 {
				return nil, fmt.Errorf("unchanged rescan %d produced %d events", scans, ev.Events)
			}
			res.rescanCPU = append(res.rescanCPU, cpu-lastCPU)
			res.rescanTook = append(res.rescanTook, took)
		}
		lastCPU = cpu
		scans++
		if scans == rescans+1 {
			wb1, err := procValue(pid, "io", "write_bytes")
			if err != nil {
				return nil, err
			}
			tx1, hash1, err := boltState(dbPath)
			if err != nil {
				return nil, err
			}
			res.writeBytes, res.txids, res.stateChanged = wb1-wb0, tx1-tx0, hash1 != hash0
			res.hwmKiB, _ = procValue(pid, "status", "VmHWM")
			res.rssKiB, _ = procValue(pid, "status", "VmRSS")
			res.anonKiB, _ = procValue(pid, "status", "RssAnon")
			res.fileKiB, _ = procValue(pid, "status", "RssFile")
			if fi, err := os.Stat(dbPath); err == nil {
				res.dbBytes = fi.Size()
			}
			peakMu.Lock()
			defer peakMu.Unlock()
			return res, nil
		}
	}
	return nil, fmt.Errorf("sftpwatchd run ended after %d scans: %v\n%s", scans, sc.Err(), joinLines(tail))
}

func joinLines(ls []string) string {
	var b bytes.Buffer
	for _, l := range ls {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// parseTook reads zap's duration field: seconds as a float (JSON encoder
// default) or a string like "1.2s".
func parseTook(v any) time.Duration {
	switch t := v.(type) {
	case float64:
		return time.Duration(t * float64(time.Second))
	case string:
		d, _ := time.ParseDuration(t)
		return d
	}
	return 0
}

// boltState returns the highest transaction id in the two bbolt meta pages
// of path and a hash of the whole file. Read from the outside, without
// opening the database (the daemon holds its lock).
func boltState(path string) (uint64, [32]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, [32]byte{}, err
	}
	if len(data) < 128 {
		return 0, [32]byte{}, fmt.Errorf("%s: too short for a bbolt file", path)
	}
	pageSize := int(binary.LittleEndian.Uint32(data[24:28]))
	var txid uint64
	for _, off := range []int{0, pageSize} {
		if off+72 <= len(data) {
			txid = max(txid, binary.LittleEndian.Uint64(data[off+64:off+72]))
		}
	}
	return txid, sha256.Sum256(data), nil
}

func medianDur(ds []time.Duration) time.Duration {
	s := sample{runs: ds}
	return s.median()
}

func sortedDur(ds []time.Duration) []time.Duration {
	r := append([]time.Duration(nil), ds...)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	return r
}

// benchDaemon measures unchanged rescans (CPU, state writes) and peak RSS.
func benchDaemon(e *env, r *report, o options, tg target, sections map[string]bool) error {
	type job struct {
		tree     treeSpec
		rescan   bool
		interval time.Duration
	}
	var jobs []job
	if sections["rescan"] {
		jobs = append(jobs, job{treeSpec{name: "10k", dirs: 1000, files: 10000, fan: 6, fileSize: 64}, true, time.Second})
		if o.large {
			jobs = append(jobs, job{treeSpec{name: "100k", dirs: 10000, files: 100000, fan: 10, fileSize: 64}, true, 2 * time.Second})
		}
	}
	if sections["rss"] {
		n := o.rssEntries
		dirs := max(n/101, 1)
		jobs = append(jobs, job{treeSpec{name: fmt.Sprintf("rss%d", n), dirs: dirs, files: n - dirs, fan: 10, fileSize: 0}, false, 5 * time.Second})
	}
	r.printf("\n## Unchanged rescan and memory (`sftpwatchd run`, %s RTT)\n\n", tg.label)
	r.printf("The daemon runs with a log action and its interval; the bench reads its CPU time " +
		"(/proc/pid/stat) at each \"scan finished\" debug line, so a rescan's CPU is everything the " +
		"process spent between two scan ends (listing, SSH decryption, compare, GC). State writes: " +
		"/proc/pid/io write_bytes, the bbolt transaction id in state.db's meta pages, and a hash of the file, " +
		"from the end of the first (baseline) scan to the end of the last rescan.\n\n")
	r.printf("| entries | baseline scan | rescan wall (median) | rescan CPU (median of %d) | CPU per 1,000 entries | bytes written to disk | state transactions | state.db changed | peak RSS (VmHWM) | RSS after |\n", o.rescanScans)
	r.printf("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, j := range jobs {
		root := filepath.Join(e.work, "tree-"+j.tree.name)
		if _, err := os.Stat(root); err != nil {
			t0 := time.Now()
			if _, err := j.tree.build(root); err != nil {
				return fmt.Errorf("build tree %s: %w", j.tree, err)
			}
			fmt.Printf("built %s in %s\n", j.tree, time.Since(t0).Round(time.Millisecond))
		}
		rescans := o.rescanScans
		if !j.rescan {
			rescans = 3
		}
		d, err := e.runDaemon(j.tree.name, tg, root, j.tree.entries(), j.interval, rescans)
		if err != nil {
			return fmt.Errorf("daemon on %s: %w", j.tree, err)
		}
		cpu := medianDur(d.rescanCPU)
		per := time.Duration(float64(cpu) / (float64(d.entries) / 1000))
		fmt.Printf("  rescan CPU samples: %v\n", sortedDur(d.rescanCPU))
		fmt.Printf("  at the end: RssAnon %.0f MB, RssFile %.0f MB, state.db %.0f MB; peaks sampled: RssAnon %.0f MB, RssFile %.0f MB\n",
			float64(d.anonKiB)*1024/1e6, float64(d.fileKiB)*1024/1e6, float64(d.dbBytes)/1e6,
			float64(d.peakAnonKiB)*1024/1e6, float64(d.peakFileKiB)*1024/1e6)
		r.printf("| %s | %s | %s | %s | %s | %d B | %d | %v | %.0f MB | %.0f MB |\n",
			thousands(d.entries), secs(d.firstScan), secs(medianDur(d.rescanTook)), secs(cpu), secs(per),
			d.writeBytes, d.txids, d.stateChanged, float64(d.hwmKiB)*1024/1e6, float64(d.rssKiB)*1024/1e6)
	}
	return nil
}
