package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// dlCase is one remote source (a directory) to copy through tg.
type dlCase struct {
	name  string
	src   string // remote directory
	files int
	bytes int64
	tg    target
}

type downloader struct {
	name string
	run  func(e *env, c dlCase, dest string) (time.Duration, error)
}

func downloaders() []downloader {
	return []downloader{
		{"sftpwatchd once (download action)", (*env).dlOurs},
		{"OpenSSH sftp -r", (*env).dlSftp},
		{"OpenSSH sftp -r, then fsync", (*env).dlSftpSync},
		{"OpenSSH scp -r", (*env).dlScp},
		{"rclone copy", (*env).dlRclone},
	}
}

// dlOurs runs `sftpwatchd once` on a fresh state dir with initial: emit and
// no settle, so the first scan makes a create event for every file and the
// download action fetches each (temp file, fsync, rename).
func (e *env) dlOurs(c dlCase, dest string) (time.Duration, error) {
	state := filepath.Join(e.work, "state-dl")
	os.RemoveAll(state)
	extra := fmt.Sprintf("    initial: emit\n    settle: 0s\n    min_age: 0s\n    types: [file]\n"+
		"    actions:\n      - type: download\n        dest: %s\n", strconv.Quote(dest))
	cfg, err := e.watchConfig("dl-"+c.name+"-"+c.tg.port, c.tg, c.src, state, "", extra)
	if err != nil {
		return 0, err
	}
	d, _, err := e.timed([]string{e.bin, "once", "-c", cfg})
	return d, err
}

func (e *env) dlSftp(c dlCase, dest string) (time.Duration, error) {
	batch := filepath.Join(e.work, "sftp-batch")
	if err := os.WriteFile(batch, []byte(fmt.Sprintf("get -r %q %q\n", c.src, dest)), 0o600); err != nil {
		return 0, err
	}
	argv := append([]string{"sftp", "-q", "-b", batch}, e.sshArgs(c.tg, "-P")...)
	d, _, err := e.timed(append(argv, e.sshd.user+"@127.0.0.1"))
	return d, err
}

// dlSftpSync is dlSftp followed by an fsync of every file and directory
// copied: the durability sftpwatchd's download action pays for (it fsyncs
// each file before renaming it into place, and its directory after), so
// that the cost of the fsyncs shows beside the plain copy.
func (e *env) dlSftpSync(c dlCase, dest string) (time.Duration, error) {
	d, err := e.dlSftp(c, dest)
	if err != nil {
		return d, err
	}
	start := time.Now()
	err = filepath.WalkDir(dest, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !(de.IsDir() || de.Type().IsRegular()) {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	return d + time.Since(start), err
}

func (e *env) dlScp(c dlCase, dest string) (time.Duration, error) {
	argv := append([]string{"scp", "-q", "-r"}, e.sshArgs(c.tg, "-P")...)
	d, _, err := e.timed(append(argv, e.sshd.user+"@127.0.0.1:"+c.src, dest))
	return d, err
}

func (e *env) dlRclone(c dlCase, dest string) (time.Duration, error) {
	argv := append([]string{"rclone", "copy"}, e.rcloneArgs(c.tg)...)
	d, _, err := e.timed(append(argv, ":sftp:"+c.src, dest))
	return d, err
}

// countFiles counts the regular files under dir and their bytes.
func countFiles(dir string) (int, int64, error) {
	var n int
	var b int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if strings.HasPrefix(d.Name(), ".sftpwatchd-") {
				return fmt.Errorf("temp file left: %s", p)
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n++
			b += fi.Size()
		}
		return nil
	})
	return n, b, err
}

func (e *env) benchDownload(r *report, c dlCase, runs int, slow time.Duration) {
	ds := downloaders()
	samples := make([]*sample, len(ds))
	for i, d := range ds {
		samples[i] = &sample{tool: d.name, bytes: c.bytes}
	}
	for run := 0; run < runs; run++ {
		for i, dl := range ds {
			s := samples[i]
			if s.skip(e, run) {
				continue
			}
			dest := filepath.Join(e.work, "dest")
			os.RemoveAll(dest)
			if err := os.MkdirAll(dest, 0o755); err != nil {
				s.err = err
				continue
			}
			d, err := dl.run(e, c, dest)
			if err == nil {
				n, b, cerr := countFiles(dest)
				if cerr != nil {
					err = cerr
				} else if n != c.files || b != c.bytes {
					err = fmt.Errorf("copied %d files / %d bytes, want %d / %d", n, b, c.files, c.bytes)
				}
			}
			os.RemoveAll(dest)
			s.record(e, run, runs, slow, d, err)
		}
	}
	ours := samples[0].median()
	r.printf("\n### %s, %s RTT\n\n", c.name, c.tg.label)
	r.printf("| tool | median | throughput | runs | ours ÷ theirs (throughput) |\n|---|---:|---:|---|---:|\n")
	for _, s := range samples {
		if len(s.runs) == 0 && s.err == nil {
			continue // not selected (-tools)
		}
		ratio, runsText := s.cells(samples[0], ours, "%.2f×")
		r.printf("| %s | %s | %s | %s | %s |\n", s.tool, secs(s.median()), mibps(s.bytes, s.median()), runsText, ratio)
	}
}

func benchDownloads(e *env, r *report, o options, tgs []target) error {
	r.printf("\n## Download\n\nWall time to copy the remote directory to an empty local one, connection " +
		"setup included; every copy is checked (file count and bytes). sftpwatchd: `once` with a fresh " +
		"state dir, `initial: emit`, `settle: 0s`, one download action, otherwise defaults (4 events in " +
		"flight, temp file + fsync + rename per file); it also scans the tree and commits the events to its " +
		"state first. The others do not fsync, except the row that fsyncs every file and directory after `sftp -r`.\n")
	bigDir := filepath.Join(e.work, "big")
	if err := os.MkdirAll(bigDir, 0o755); err != nil {
		return err
	}
	if err := bigFile(filepath.Join(bigDir, "big.bin"), o.bigSize); err != nil {
		return err
	}
	small := treeSpec{name: "small", dirs: max(o.smallFiles/100, 1), files: o.smallFiles, fan: 10, fileSize: 4096}
	smallDir := filepath.Join(e.work, "small")
	if _, err := small.build(smallDir); err != nil {
		return err
	}
	for _, tg := range tgs {
		e.benchDownload(r, dlCase{name: fmt.Sprintf("One %d MiB file", o.bigSize>>20), src: bigDir, files: 1, bytes: o.bigSize, tg: tg}, o.runs, o.slow)
		e.benchDownload(r, dlCase{name: fmt.Sprintf("%s files of 4 KiB in %d dirs", thousands(small.files), small.dirs), src: smallDir,
			files: small.files, bytes: int64(small.files) * 4096, tg: tg}, o.runs, o.slow)
	}
	return nil
}
