package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scaleRun is what one daemon with many watches did over the measured rounds.
type scaleRun struct {
	watches, entriesPer int
	interval, settle    time.Duration
	warmup              time.Duration // start until every watch finished its first scan
	measured            time.Duration // wall time of the measured rounds
	cpu                 time.Duration // CPU of the daemon during them
	scans               float64       // scans_total increase during them
	rssKiB, hwmKiB      int64
	goroutines          float64
	connections         float64
	maxConnections      int
	missed              int     // watches whose last scan is older than interval + 10 s at the end
	spread              float64 // fraction of the interval the scan ends cover (1 - largest gap)
	latencies           []time.Duration
}

// scaleTree makes (once; cached in work) n watch roots of per files each.
func scaleTree(work string, n, per int) (string, error) {
	root := filepath.Join(work, fmt.Sprintf("scale-%dx%d", n, per))
	done := filepath.Join(root, ".built")
	if _, err := os.Stat(done); err == nil {
		return root, nil
	}
	os.RemoveAll(root)
	content := []byte("0123456789abcdef\n")
	for w := 0; w < n; w++ {
		dir := filepath.Join(root, fmt.Sprintf("p%05d", w))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		for f := 0; f < per; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.dat", f)), content, 0o644); err != nil {
				return "", err
			}
		}
	}
	return root, os.WriteFile(done, nil, 0o644)
}

// metricsText is one scrape of /metrics: "name{labels}" → value.
type metricsText map[string]float64

func scrape(url string) (metricsText, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metricsText{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// sum adds every series of the metric name; each is called with the value
// of the label label of series that have it.
func (m metricsText) sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

func (m metricsText) each(name string, fn func(v float64)) {
	for k, v := range m {
		if strings.HasPrefix(k, name+"{") {
			fn(v)
		}
	}
}

// spreadOf is the fraction of the interval covered by the instants ts (taken
// modulo the interval): 1 minus the largest circular gap between two of them.
func spreadOf(ts []float64, interval time.Duration) float64 {
	iv := interval.Seconds()
	if len(ts) < 2 {
		return 0
	}
	ph := make([]float64, len(ts))
	for i, t := range ts {
		ph[i] = t - iv*float64(int64(t/iv))
	}
	sort.Float64s(ph)
	gap := ph[0] + iv - ph[len(ph)-1]
	for i := 1; i < len(ph); i++ {
		gap = max(gap, ph[i]-ph[i-1])
	}
	return 1 - gap/iv
}

// hookServer records when each webhook body's rel_path arrived.
type hookServer struct {
	mu   sync.Mutex
	seen map[string]time.Time
	srv  *http.Server
	url  string
}

func startHookServer() (*hookServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookServer{seen: map[string]time.Time{}, url: "http://" + l.Addr().String() + "/"}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var ev struct {
			Watch   string `json:"watch"`
			RelPath string `json:"rel_path"`
		}
		json.NewDecoder(r.Body).Decode(&ev) //nolint:errcheck
		h.mu.Lock()
		if _, ok := h.seen[ev.Watch+"/"+ev.RelPath]; !ok {
			h.seen[ev.Watch+"/"+ev.RelPath] = at
		}
		h.mu.Unlock()
	})}
	go h.srv.Serve(l) //nolint:errcheck
	return h, nil
}

func (h *hookServer) at(key string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.seen[key]
	return t, ok
}

// runScale starts one daemon with n watches of per files each and measures
// rounds intervals after every watch finished its first scan. A writer
// drops a new file into the watch in the middle of the crowd at random
// moments and the webhook's arrival time gives the detection latency.
func (e *env) runScale(tg target, n, per int, interval, settle time.Duration, rounds, maxConns int) (*scaleRun, error) {
	tree, err := scaleTree(e.work, n, per)
	if err != nil {
		return nil, err
	}
	hooks, err := startHookServer()
	if err != nil {
		return nil, err
	}
	defer hooks.srv.Close()
	stateDir := filepath.Join(e.work, fmt.Sprintf("state-scale-%d", n))
	os.RemoveAll(stateDir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	listen := l.Addr().String()
	l.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nlog: {level: warn, format: json}\nhttp: {listen: %s}\n", strconv.Quote(stateDir), strconv.Quote(listen))
	fmt.Fprintf(&b, "hosts:\n  h:\n    address: %s\n    user: %s\n    private_key_file: %s\n    known_hosts_file: %s\n",
		strconv.Quote(tg.addr), e.sshd.user, strconv.Quote(e.sshd.keyFile), strconv.Quote(tg.knownHosts))
	for _, kv := range strings.Split(e.hostOpts, ";") {
		if kv = strings.TrimSpace(kv); kv != "" {
			fmt.Fprintf(&b, "    %s\n", kv)
		}
	}
	b.WriteString("watches:\n")
	for w := 0; w < n; w++ {
		fmt.Fprintf(&b, "  - {name: p%05d, host: h, path: %s, interval: %s, settle: %s, actions: [{type: webhook, url: %q}]}\n",
			w, strconv.Quote(filepath.Join(tree, fmt.Sprintf("p%05d", w))), interval, settle, hooks.url)
	}
	cfg := filepath.Join(e.work, fmt.Sprintf("cfg-scale-%d.yaml", n))
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "run", "-c", cfg)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck
		cmd.Wait()                       //nolint:errcheck
	}()
	pid := cmd.Process.Pid
	metricsURL := "http://" + listen + "/metrics"
	res := &scaleRun{watches: n, entriesPer: per, interval: interval, settle: settle, maxConnections: maxConns}

	// Warm-up: every watch has finished its first scan.
	for {
		if ctx.Err() != nil || cmd.ProcessState != nil {
			return nil, fmt.Errorf("daemon with %d watches did not finish its first scans: %s", n, firstLine(stderr.String()))
		}
		if m, err := scrape(metricsURL); err == nil {
			done := 0
			m.each("sftpwatchd_last_scan_success_timestamp_seconds", func(v float64) {
				if v > 0 {
					done++
				}
			})
			if done >= n {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	res.warmup = time.Since(t0)

	// Measured rounds, with the writer in the middle watch.
	mid := fmt.Sprintf("p%05d", n/2)
	written := map[string]time.Time{}
	before, err := scrape(metricsURL)
	if err != nil {
		return nil, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	end := start.Add(time.Duration(rounds) * interval)
	var peakGoroutines float64
	for i := 0; time.Now().Before(end); i++ {
		// A new file at a random moment of every fifth of an interval.
		time.Sleep(time.Duration(rand.Int64N(int64(interval / 5))))
		if time.Now().After(end.Add(-interval - settle)) {
			continue // its event could not arrive within the run
		}
		name := fmt.Sprintf("new-%04d.dat", i)
		if err := os.WriteFile(filepath.Join(tree, mid, name), []byte("x\n"), 0o644); err != nil {
			return nil, err
		}
		written[mid+"/"+name] = time.Now()
		if m, err := scrape(metricsURL); err == nil {
			peakGoroutines = max(peakGoroutines, m.sum("go_goroutines"))
		}
	}
	res.measured = time.Since(start)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return nil, err
	}
	res.cpu = cpu1 - cpu0
	after, err := scrape(metricsURL)
	if err != nil {
		return nil, err
	}
	res.scans = after.sum("sftpwatchd_scans_total") - before.sum("sftpwatchd_scans_total")
	res.goroutines = max(peakGoroutines, after.sum("go_goroutines"))
	res.connections = after.sum("sftpwatchd_sftp_connections")
	res.rssKiB, _ = procValue(pid, "status", "VmRSS")
	res.hwmKiB, _ = procValue(pid, "status", "VmHWM")
	now := float64(time.Now().UnixNano()) / 1e9
	var ends []float64
	after.each("sftpwatchd_last_scan_success_timestamp_seconds", func(v float64) {
		ends = append(ends, v)
		if now-v > (interval + 10*time.Second).Seconds() {
			res.missed++
		}
	})
	res.spread = spreadOf(ends, interval)
	// The last events: wait up to interval + settle + 5 s for each.
	deadline := time.Now().Add(interval + settle + 5*time.Second)
	for key, at := range written {
		for {
			if got, ok := hooks.at(key); ok {
				res.latencies = append(res.latencies, got.Sub(at))
				break
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("%s written %s ago: no webhook", key, time.Since(at).Round(time.Second))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
	return res, nil
}

func benchScale(e *env, r *report, o options, tg target) error {
	r.printf("\n## Many watches on one daemon (`sftpwatchd run`, %s RTT)\n\n", tg.label)
	r.printf("One sshd, W watches of %d files each, interval %s, settle %s, a webhook action, default host "+
		"settings. Measured over %d intervals after every watch finished its first scan. CPU from /proc/pid/stat; "+
		"scan spread = the part of the interval the watches' last scan ends cover (1 − the largest gap); "+
		"latency = a new file written into the watch in the middle of the crowd until its webhook arrived "+
		"(bound: settle + interval + 100 ms).\n\n", o.scalePer, o.scaleInterval, o.scaleSettle, o.scaleRounds)
	r.printf("| watches | first scans done after | CPU (%% of one core) | CPU per scan | RSS (peak) | RSS per watch | goroutines | SSH connections | watches not scanned in the last interval | scan spread | latency p50 / p99 / max (n) |\n")
	r.printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range o.scaleWatches {
		t0 := time.Now()
		s, err := e.runScale(tg, n, o.scalePer, o.scaleInterval, o.scaleSettle, o.scaleRounds, 0)
		if err != nil {
			return fmt.Errorf("scale %d watches: %w", n, err)
		}
		fmt.Printf("scale %d watches: %s\n", n, time.Since(t0).Round(time.Second))
		share := float64(s.cpu) / float64(s.measured) * 100
		perScan := time.Duration(0)
		if s.scans > 0 {
			perScan = time.Duration(float64(s.cpu) / s.scans)
		}
		lat := "–"
		if k := len(s.latencies); k > 0 {
			lat = fmt.Sprintf("%s / %s / %s (%d)", secs(s.latencies[k/2]), secs(s.latencies[(k*99)/100]), secs(s.latencies[k-1]), k)
		}
		r.printf("| %s | %s | %.1f %% | %s | %.0f MB (%.0f MB) | %.1f KB | %.0f | %.0f | %d | %.0f %% | %s |\n",
			thousands(n), secs(s.warmup), share, secs(perScan), float64(s.rssKiB)*1024/1e6, float64(s.hwmKiB)*1024/1e6,
			float64(s.rssKiB)*1024/1e3/float64(n), s.goroutines, s.connections, s.missed, s.spread*100, lat)
	}
	return nil
}
