package metrics_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

func TestHelpersAreNilSafe(t *testing.T) {
	var m *metrics.Metrics
	now := time.Now()
	// Every helper must be a no-op on nil; a panic fails the test.
	m.InitWatch("w")
	m.InitAction("w", "exec")
	m.InitHost("h")
	m.ForgetWatch("w")
	m.ForgetHost("h")
	m.ScanFinished("w", metrics.ScanOK, time.Second, now)
	m.SetSnapshotSize("w", 1, 2)
	m.EventsCommitted("w", "create", 1, now)
	m.SetEventsPending("w", 1)
	m.ActionAttempt("w", "exec", metrics.ActionOK, time.Second)
	m.SetDeadLetters("w", 1)
	m.DownloadedBytes("w", 1)
	m.Dialed("h", nil)
	m.ConnectionOpened("h")
	m.ConnectionClosed("h")
	m.SetConnections("h", 1)
}

func TestScanFinishedMovesLastSuccessOnlyOnOkAndPartial(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), "test")
	t0 := time.Unix(1000, 500_000_000)
	m.ScanFinished("w", metrics.ScanOK, 2*time.Second, t0)
	if got := testutil.ToFloat64(m.LastScanSuccess.WithLabelValues("w")); got != 1000.5 {
		t.Fatalf("last success after ok = %v, want 1000.5", got)
	}
	m.ScanFinished("w", metrics.ScanError, time.Second, t0.Add(time.Minute))
	if got := testutil.ToFloat64(m.LastScanSuccess.WithLabelValues("w")); got != 1000.5 {
		t.Fatalf("error scan moved last success to %v", got)
	}
	m.ScanFinished("w", metrics.ScanPartial, time.Second, t0.Add(2*time.Minute))
	if got := testutil.ToFloat64(m.LastScanSuccess.WithLabelValues("w")); got != 1120.5 {
		t.Fatalf("last success after partial = %v, want 1120.5", got)
	}
	for r, want := range map[string]float64{metrics.ScanOK: 1, metrics.ScanPartial: 1, metrics.ScanError: 1} {
		if got := testutil.ToFloat64(m.ScansTotal.WithLabelValues("w", r)); got != want {
			t.Errorf("scans_total{result=%q} = %v, want %v", r, got, want)
		}
	}
}

func TestCountersIgnoreNonPositive(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), "test")
	m.DownloadedBytes("w", -5)
	m.DownloadedBytes("w", 0)
	m.DownloadedBytes("w", 7)
	if got := testutil.ToFloat64(m.DownloadBytesTotal.WithLabelValues("w")); got != 7 {
		t.Fatalf("download bytes = %v, want 7", got)
	}
	m.EventsCommitted("w", "create", 0, time.Unix(5, 0))
	if n := testutil.CollectAndCount(m.LastEvent); n != 0 {
		t.Fatalf("zero events set last_event (%d series)", n)
	}
	m.Dialed("h", errors.New("refused"))
	m.Dialed("h", nil)
	m.Dialed("h", nil)
	if got := testutil.ToFloat64(m.SFTPDialsTotal.WithLabelValues("h", metrics.DialOK)); got != 2 {
		t.Fatalf("dials ok = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.SFTPDialsTotal.WithLabelValues("h", metrics.DialError)); got != 1 {
		t.Fatalf("dials error = %v, want 1", got)
	}
}

func TestInitAndForgetWatch(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry(), "test")
	m.InitWatch("gone")
	m.InitWatch("kept")
	m.InitAction("gone", "exec")
	m.ScanFinished("gone", metrics.ScanOK, time.Second, time.Now())
	if n := testutil.CollectAndCount(m.ScansTotal); n != 6 {
		t.Fatalf("scans_total series after InitWatch x2 = %d, want 6", n)
	}
	if n := testutil.CollectAndCount(m.ActionsTotal); n != 3 {
		t.Fatalf("actions_total series after InitAction = %d, want 3", n)
	}
	m.ForgetWatch("gone")
	if n := testutil.CollectAndCount(m.ScansTotal); n != 3 {
		t.Fatalf("scans_total series after ForgetWatch = %d, want 3 (kept only)", n)
	}
	for name, c := range map[string]prometheus.Collector{
		"actions_total": m.ActionsTotal, "scan_duration_seconds": m.ScanDuration,
		"last_scan_success_timestamp_seconds": m.LastScanSuccess,
	} {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("%s still has %d series after ForgetWatch", name, n)
		}
	}

	m.InitHost("h")
	m.ConnectionOpened("h")
	m.ConnectionOpened("h")
	m.ConnectionClosed("h")
	if got := testutil.ToFloat64(m.SFTPConnections.WithLabelValues("h")); got != 1 {
		t.Fatalf("connections = %v, want 1", got)
	}
	m.ForgetHost("h")
	if n := testutil.CollectAndCount(m.SFTPDialsTotal) + testutil.CollectAndCount(m.SFTPConnections); n != 0 {
		t.Fatalf("%d host series left after ForgetHost", n)
	}
}
