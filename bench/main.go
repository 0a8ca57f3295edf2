package main

import (
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed walk.py
var walkPy []byte

type options struct {
	bin, out, work, only string
	listTrees            string
	runs                 int
	rtt                  time.Duration
	slow, timeout        time.Duration
	large, keep, verbose bool
	smallFiles           int
	bigSize              int64
	rssEntries           int
	rescanScans          int
	hostOpts             string
	watchOpts            string
	tools                string
	scaleWatches         []int
	scalePer             int
	scaleRounds          int
	scaleInterval        time.Duration
	scaleSettle          time.Duration
}

func main() {
	var o options
	var bigMiB int
	flag.StringVar(&o.bin, "bin", "bin/sftpwatchd", "sftpwatchd binary to measure")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "markdown file to write (\"\" = stdout only)")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temp dir, removed at the end)")
	flag.StringVar(&o.only, "only", "list,rescan,rss,download", "sections to run: list,rescan,rss,download,scale (scale: see make bench-scale)")
	flag.IntVar(&o.runs, "runs", 3, "runs per case (median reported)")
	flag.DurationVar(&o.rtt, "rtt", 20*time.Millisecond, "round-trip time the relay adds (0 ms is always measured too)")
	flag.DurationVar(&o.slow, "slow", 3*time.Minute, "a tool whose first run takes longer is not repeated (noted)")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "per-command timeout")
	flag.StringVar(&o.listTrees, "list-trees", "", "listing trees to run, by name: 10k,100k (default 10k; both with -large)")
	flag.BoolVar(&o.large, "large", false, "also the large cases: 10,000 dirs / 100,000 files listing, 1 GiB file, 10,000 small files, 1,000,000-entry RSS")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.BoolVar(&o.verbose, "v", false, "print every run")
	flag.IntVar(&o.smallFiles, "small-files", 0, "small files to download (default 500; 10,000 with -large)")
	flag.IntVar(&bigMiB, "big-mib", 0, "size of the large download in MiB (default 256; 1024 with -large)")
	flag.IntVar(&o.rssEntries, "rss-entries", 0, "entries the daemon tracks for the RSS figure (default 100,000; 1,000,000 with -large)")
	flag.IntVar(&o.rescanScans, "rescans", 7, "unchanged rescans measured per tree")
	flag.StringVar(&o.hostOpts, "host-opts", "", "extra YAML for sftpwatchd's host, e.g. \"max_connections: 1\" (experiments; RESULTS.md notes it)")
	flag.StringVar(&o.watchOpts, "watch-opts", "", "extra YAML for sftpwatchd's watch, e.g. \"concurrency: 16\" (experiments; RESULTS.md notes it)")
	flag.StringVar(&o.tools, "tools", "", "only these tools, by the leading words of their name: sftpwatchd,pysftp-style,rclone,ssh,OpenSSH or \"OpenSSH sftp\" (default all)")
	scaleWatches := flag.String("scale-watches", "1000,10000", "scale section: watch counts, one daemon each")
	flag.IntVar(&o.scalePer, "scale-per", 100, "scale section: files per watch")
	flag.IntVar(&o.scaleRounds, "scale-rounds", 3, "scale section: intervals measured after the first scans")
	flag.DurationVar(&o.scaleInterval, "scale-interval", time.Minute, "scale section: every watch's interval")
	flag.DurationVar(&o.scaleSettle, "scale-settle", 5*time.Second, "scale section: every watch's settle")
	flag.Parse()
	for _, f := range strings.Split(*scaleWatches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -scale-watches: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.scaleWatches = append(o.scaleWatches, n)
	}
	if o.smallFiles == 0 {
		o.smallFiles = pick(o.large, 10000, 500)
	}
	if bigMiB == 0 {
		bigMiB = pick(o.large, 1024, 256)
	}
	o.bigSize = int64(bigMiB) << 20
	if o.rssEntries == 0 {
		o.rssEntries = pick(o.large, 1000000, 100000)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func pick(large bool, big, small int) int {
	if large {
		return big
	}
	return small
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	onlyScale := strings.TrimSpace(o.only) == "scale"
	for _, tool := range []string{"ssh", "sftp", "scp", "rclone"} {
		if onlyScale {
			break // the scale section runs only sshd and sftpwatchd
		}
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install openssh-client rclone python3-paramiko openssh-server", tool)
		}
	}
	python := "/usr/bin/python3" // Debian's python3-paramiko lives there, not in a pyenv
	if err := exec.Command(python, "-c", "import paramiko").Run(); err != nil && !onlyScale {
		return fmt.Errorf("%s cannot import paramiko: apt-get install python3-paramiko", python)
	}
	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "sftpwatchd-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	srv, err := startSSHD(filepath.Join(work, "sshd"))
	if err != nil {
		if err2 := os.MkdirAll(filepath.Join(work, "sshd"), 0o700); err2 == nil {
			srv, err = startSSHD(filepath.Join(work, "sshd"))
		}
		if err != nil {
			return err
		}
	}
	defer srv.stop()
	e := &env{bin: bin, work: work, sshd: srv, python: python, timeout: o.timeout, verbose: o.verbose, hostOpts: o.hostOpts, watchOpts: o.watchOpts, tools: o.tools}

	r := &report{}
	start := time.Now()
	r.printf("# sftpwatchd benchmarks\n\n")
	r.printf("Measured %s by `make bench` (%s). Machine: %s. Medians of %d runs unless noted.\n",
		start.UTC().Format("2006-01-02"), strings.Join(os.Args[1:], " "), machine(), o.runs)
	if v, err := exec.Command(bin, "version").Output(); err == nil {
		r.printf("Binary measured: `%s`.\n", strings.TrimSpace(string(v)))
	}
	if o.hostOpts != "" {
		r.printf("**Not defaults:** sftpwatchd's host has `%s`.\n", o.hostOpts)
	}
	if o.watchOpts != "" {
		r.printf("**Not defaults:** sftpwatchd's watch has `%s`.\n", o.watchOpts)
	}
	r.printf("Server: OpenSSH `sshd` (%s, internal-sftp) on 127.0.0.1; every client on the same machine.\n", sshVersion())

	// Targets: loopback, and the relay with the requested RTT.
	tgs := []target{{label: "0 ms", addr: srv.addr}}
	if o.rtt > 0 {
		rl, err := startRelay(srv.addr, o.rtt/2)
		if err != nil {
			return err
		}
		defer rl.close()
		tgs = append(tgs, target{label: fmt.Sprintf("%d ms", o.rtt.Milliseconds()), addr: rl.addr})
	}
	r.printf("\n## Added latency\n\nThe kernel has no `sch_netem`, so latency comes from the relay in bench/relay.go " +
		"(each chunk held RTT/2 per direction, released in order). Ping-pong of 1 byte through it, median of 200:\n\n")
	r.printf("| relay set to | measured RTT | last of 64 pipelined pings answered after |\n|---|---:|---:|\n")
	for i := range tgs {
		tg := &tgs[i]
		_, tg.port, _ = strings.Cut(tg.addr, ":")
		tg.knownHosts = filepath.Join(work, "known_hosts-"+tg.port)
		if err := srv.knownHosts(tg.knownHosts, tg.addr); err != nil {
			return err
		}
		oneWay := time.Duration(0)
		if i > 0 {
			oneWay = o.rtt / 2
		}
		rtt, err := measureRTT(oneWay, 200)
		if err != nil {
			return fmt.Errorf("measure RTT: %w", err)
		}
		burst, err := measureBurst(oneWay, 64)
		if err != nil {
			return fmt.Errorf("measure pipelining: %w", err)
		}
		if i > 0 {
			tg.rtt = rtt
		}
		r.printf("| %s | %s | %s |\n", tg.label, secs(rtt), secs(burst))
	}

	sections := map[string]bool{}
	for _, s := range strings.Split(o.only, ",") {
		sections[strings.TrimSpace(s)] = true
	}
	if sections["list"] {
		if err := benchListings(e, r, o, tgs); err != nil {
			return err
		}
	}
	if sections["rescan"] || sections["rss"] {
		if err := benchDaemon(e, r, o, tgs[0], sections); err != nil {
			return err
		}
	}
	if sections["scale"] {
		if err := benchScale(e, r, o, tgs[0]); err != nil {
			return err
		}
	}
	if sections["download"] {
		if err := benchDownloads(e, r, o, tgs); err != nil {
			return err
		}
	}
	r.printf("\nTotal bench time: %s.\n", time.Since(start).Round(time.Second))
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(r.b.String()), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", o.out)
	}
	return nil
}

func benchListings(e *env, r *report, o options, tgs []target) error {
	var trees []treeSpec
	for _, t := range []treeSpec{
		{name: "10k", dirs: 1000, files: 10000, fan: 6, fileSize: 64},
		{name: "100k", dirs: 10000, files: 100000, fan: 10, fileSize: 64},
	} {
		if o.listTrees == "" && (t.name == "10k" || o.large) || slices.Contains(strings.Split(o.listTrees, ","), t.name) {
			trees = append(trees, t)
		}
	}
	r.printf("\n## Full scan\n\nWall time of one complete listing, connection setup included. Every tool's " +
		"output is checked to hold every entry.\n")
	for _, t := range trees {
		root := filepath.Join(e.work, "tree-"+t.name)
		t0 := time.Now()
		depth, err := t.build(root)
		if err != nil {
			return fmt.Errorf("build tree %s: %w", t, err)
		}
		fmt.Printf("built %s in %s\n", t, time.Since(t0).Round(time.Millisecond))
		for _, tg := range tgs {
			e.benchListing(r, listCase{tree: t, root: root, depth: depth, tg: tg}, o.runs, o.slow)
		}
	}
	return nil
}

func machine() string {
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(data), "\n", 2)[0], "MemTotal:"), "%d", &kb) //nolint:errcheck
		mem = fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
	}
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = " (" + strings.TrimSpace(v) + ")"
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores%s, %s, Linux %s, %s", runtime.NumCPU(), model, mem,
		strings.TrimSpace(string(kernel)), runtime.Version())
}

func sshVersion() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	return strings.TrimSpace(string(out))
}
