package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// listCase is one tree, already built under root, listed through tg.
type listCase struct {
	tree  treeSpec
	root  string
	depth int
	tg    target
}

type lister struct {
	name string
	run  func(e *env, c listCase) (time.Duration, int, error)
	want func(c listCase) int // expected stdout lines
}

func listers() []lister {
	entries := func(c listCase) int { return c.tree.entries() }
	return []lister{
		{"sftpwatchd ls (defaults)", (*env).lsOurs, entries},
		{"pysftp-style walk (paramiko listdir_attr)", (*env).lsPysftp, func(listCase) int { return 1 }},
		{"rclone lsjson -R", (*env).lsRclone, func(c listCase) int { return c.tree.entries() + 2 }},
		{"ssh find -printf (floor)", (*env).lsFind, entries},
	}
}

func (e *env) lsOurs(c listCase) (time.Duration, int, error) {
	state := filepath.Join(e.work, "state-ls")
	cfg, err := e.watchConfig("ls-"+c.tree.name+"-"+c.tg.port, c.tg, c.root, state, "", "")
	if err != nil {
		return 0, 0, err
	}
	return e.timed([]string{e.bin, "ls", "-c", cfg, "--watch", "w"})
}

func (e *env) lsPysftp(c listCase) (time.Duration, int, error) {
	script := filepath.Join(e.work, "walk.py")
	if err := os.WriteFile(script, walkPy, 0o755); err != nil {
		return 0, 0, err
	}
	out := filepath.Join(e.work, "walk.out")
	d, n, err := e.timedTo(out, []string{e.python, script, "127.0.0.1", c.tg.port, e.sshd.user,
		e.sshd.keyFile, c.tg.knownHosts, c.root})
	if err != nil {
		return d, n, err
	}
	data, _ := os.ReadFile(out)
	got, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if got != c.tree.entries() {
		return d, n, fmt.Errorf("pysftp walk saw %d entries, want %d", got, c.tree.entries())
	}
	return d, n, nil
}

func (e *env) lsRclone(c listCase) (time.Duration, int, error) {
	argv := append([]string{"rclone", "lsjson", "-R"}, e.rcloneArgs(c.tg)...)
	return e.timed(append(argv, ":sftp:"+c.root))
}

func (e *env) lsFind(c listCase) (time.Duration, int, error) {
	argv := append([]string{"ssh"}, e.sshArgs(c.tg, "-p")...)
	argv = append(argv, e.sshd.user+"@127.0.0.1", "find "+shellQuote(c.root)+" -mindepth 1 -printf '%y %s %T@ %P\\n'")
	return e.timed(argv)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// inFlight is sftpwatchd's default number of directory reads in flight
// (max_concurrent_requests), used for the round-trip bound.
const inFlight = 64

// benchListing times every lister on c, runs times each (interleaved), and
// writes one table.
func (e *env) benchListing(r *report, c listCase, runs int, slow time.Duration) *sample {
	ls := listers()
	samples := make([]*sample, len(ls))
	for i, l := range ls {
		samples[i] = &sample{tool: l.name}
	}
	e.lsFind(c) //nolint:errcheck // warm the server's dentry cache
	for run := 0; run < runs; run++ {
		for i, l := range ls {
			s := samples[i]
			if s.skip(e, run) {
				continue
			}
			d, n, err := l.run(e, c)
			if err == nil && n != l.want(c) {
				err = fmt.Errorf("%d lines of output, want %d", n, l.want(c))
			}
			s.record(e, run, runs, slow, d, err)
		}
	}
	rtt := c.tg.rtt
	bound := max(time.Duration(c.depth)*rtt, time.Duration(c.tree.dirs)*rtt/inFlight)
	ours := samples[0].median()
	r.printf("\n### Full listing: %s (depth %d), %s RTT (measured %s)\n\n", c.tree, c.depth, c.tg.label, secs(rtt))
	r.printf("| tool | median | runs | ours is … faster |\n|---|---:|---|---:|\n")
	for _, s := range samples {
		if len(s.runs) == 0 && s.err == nil {
			continue // not selected (-tools)
		}
		ratio, runsText := s.cells(samples[0], ours, "%.1f×")
		r.printf("| %s | %s | %s | %s |\n", s.tool, secs(s.median()), runsText, ratio)
	}
	if rtt > 0 {
		r.printf("| round-trip bound max(depth×RTT, dirs×RTT/%d) | %s | | `ls` is %.2f× the bound |\n",
			inFlight, secs(bound), ours.Seconds()/bound.Seconds())
		if e.wants("sftpwatchd") {
			e.benchScanPath(r, c, runs, bound)
		}
	}
	return samples[0]
}

// benchScanPath times the scan as the daemon does it: `sftpwatchd run` on
// the same tree through the same relay, its connection pooled across scans,
// so no SSH handshake is in the figure (`ls` pays one: ~10 round trips).
// The median of runs unchanged rescans ("took" of each scan) is compared
// with the bound.
func (e *env) benchScanPath(r *report, c listCase, runs int, bound time.Duration) {
	d, err := e.runDaemon("scan-"+c.tree.name+"-"+c.tg.port, c.tg, c.root, c.tree.entries(), time.Second, max(runs, 3))
	if err != nil {
		fmt.Printf("  sftpwatchd run (scan path): %v\n", err)
		r.printf("| sftpwatchd run: unchanged rescan (pooled connection) | failed: %s | | |\n", firstLine(err.Error()))
		return
	}
	s := sample{runs: d.rescanTook}
	r.printf("| sftpwatchd run: unchanged rescan (pooled connection) | %s | %s | rescan is %.2f× the bound |\n",
		secs(s.median()), s.runsText(), s.median().Seconds()/bound.Seconds())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
