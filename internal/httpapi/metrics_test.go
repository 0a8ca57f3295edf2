package httpapi_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sftpwatchd/sftpwatchd/internal/httpapi"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// specMetrics is the metric table of SPEC section 5: name (without the
// sftpwatchd_ prefix), type and labels.
var specMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"scans_total", dto.MetricType_COUNTER, []string{"watch", "result"}},
	{"scan_duration_seconds", dto.MetricType_HISTOGRAM, []string{"watch"}},
	{"watch_entries", dto.MetricType_GAUGE, []string{"watch"}},
	{"watch_bytes", dto.MetricType_GAUGE, []string{"watch"}},
	{"events_total", dto.MetricType_COUNTER, []string{"watch", "type"}},
	{"events_pending", dto.MetricType_GAUGE, []string{"watch"}},
	{"actions_total", dto.MetricType_COUNTER, []string{"watch", "action", "result"}},
	{"action_duration_seconds", dto.MetricType_HISTOGRAM, []string{"watch", "action"}},
	{"dead_letters", dto.MetricType_GAUGE, []string{"watch"}},
	{"last_scan_success_timestamp_seconds", dto.MetricType_GAUGE, []string{"watch"}},
	{"last_event_timestamp_seconds", dto.MetricType_GAUGE, []string{"watch"}},
	{"download_bytes_total", dto.MetricType_COUNTER, []string{"watch"}},
	{"sftp_connections", dto.MetricType_GAUGE, []string{"host"}},
	{"sftp_dials_total", dto.MetricType_COUNTER, []string{"host", "result"}},
	{"build_info", dto.MetricType_GAUGE, []string{"version", "goversion"}},
	{"commit_errors_total", dto.MetricType_COUNTER, []string{"watch"}}, // SPEC §4 "State you can trust"
	{"entries_settling", dto.MetricType_GAUGE, []string{"watch"}},      // SPEC §7 "More metrics"
}

// touchAll moves every SPEC metric once, through the metrics helpers, the
// way the daemon does.
func touchAll(m *metrics.Metrics) {
	now := time.Now()
	m.InitWatch("incoming")
	m.InitAction("incoming", "download")
	m.InitHost("partner")
	m.ScanFinished("incoming", metrics.ScanOK, 1500*time.Millisecond, now)
	m.ScanFinished("incoming", metrics.ScanPartial, 2*time.Second, now)
	m.SetSnapshotSize("incoming", 42, 1<<20)
	m.EventsCommitted("incoming", "create", 3, now)
	m.SetEventsPending("incoming", 2)
	m.ActionAttempt("incoming", "download", metrics.ActionOK, 20*time.Millisecond)
	m.ActionAttempt("incoming", "download", metrics.ActionRetry, 5*time.Millisecond)
	m.SetDeadLetters("incoming", 1)
	m.DownloadedBytes("incoming", 4096)
	m.Dialed("partner", nil)
	m.ConnectionOpened("partner")
	m.CommitFailed("incoming")
	m.SetSettling("incoming", 2)
}

// scrape starts a server over a fresh registry with every metric touched and
// returns the /metrics body.
func scrape(t *testing.T) string {
	t.Helper()
	reg, m := httpapi.NewRegistry("1.2.3-test")
	touchAll(m)
	s := startServer(t, httpapi.Options{Registry: reg})
	code, ctype, body := get(t, s, "/metrics")
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/metrics = %d %q", code, ctype)
	}
	return body
}

func TestMetricsScrapeHasEverySpecMetric(t *testing.T) {
	body := scrape(t)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_start_time_seconds"} {
		if families[want] == nil {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, sm := range specMetrics {
		name := "sftpwatchd_" + sm.name
		mf := families[name]
		if mf == nil {
			t.Errorf("scrape lacks %s", name)
			continue
		}
		if mf.GetType() != sm.typ {
			t.Errorf("%s is a %v, SPEC says %v", name, mf.GetType(), sm.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		for _, metric := range mf.GetMetric() {
			var got []string
			for _, lp := range metric.GetLabel() {
				got = append(got, lp.GetName())
			}
			want := append([]string(nil), sm.labels...)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s labels %v, SPEC says %v", name, got, want)
			}
		}
	}
	bi := families["sftpwatchd_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 || bi.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("build_info: %v", bi)
	}
	labels := map[string]string{}
	for _, lp := range bi.GetMetric()[0].GetLabel() {
		labels[lp.GetName()] = lp.GetValue()
	}
	if labels["version"] != "1.2.3-test" || labels["goversion"] != runtime.Version() {
		t.Fatalf("build_info labels %v", labels)
	}
	// The zero-value series InitWatch creates are there before any error.
	if !strings.Contains(body, `sftpwatchd_scans_total{result="error",watch="incoming"} 0`) {
		t.Errorf("scrape lacks the zero error series of scans_total")
	}
}

// TestPromtoolCheckMetrics lints a real scrape with promtool, as
// node_exporter does in its build.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found but CI is set (.ci/run installs Debian's prometheus package): %v", err)
		}
		t.Skipf("promtool not installed (apt-get install prometheus); skipping the metrics lint: %v", err)
	}
	body := scrape(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) || out.Len() > 0 {
		t.Fatalf("promtool check metrics complains (%v):\n%s", err, out.String())
	}
	if err != nil {
		t.Fatalf("run promtool: %v", err)
	}
}
