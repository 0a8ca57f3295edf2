package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/httpapi"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

func TestHealthz(t *testing.T) {
	s := startServer(t, httpapi.Options{})
	code, ctype, body := get(t, s, "/healthz")
	if code != http.StatusOK || body != "ok\n" || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/healthz = %d %q %q, want 200 text/plain \"ok\\n\"", code, ctype, body)
	}
	if code, _, _ := get(t, s, "/nope"); code != http.StatusNotFound {
		t.Fatalf("/nope = %d, want 404", code)
	}
}

type readyBody struct {
	Status  string                `json:"status"`
	Watches []httpapi.WatchStatus `json:"watches"`
}

func readyz(t *testing.T, s *httpapi.Server) (int, readyBody) {
	t.Helper()
	code, ctype, body := get(t, s, "/readyz")
	if ctype != "application/json" {
		t.Fatalf("/readyz content type %q", ctype)
	}
	var rb readyBody
	if err := json.Unmarshal([]byte(body), &rb); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, rb
}

func TestReadyzFollowsTheTracker(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	tr := httpapi.NewTracker(clk.Now)
	// A hostile watch name must come back intact in the JSON.
	const odd = "in\"coming\n$(touch PWNED)"
	tr.SetWatch("incoming", 30*time.Second) // window max(90s, 1m) = 90s
	tr.SetWatch(odd, 10*time.Second)        // window max(30s, 1m) = 1m
	s := startServer(t, httpapi.Options{Readiness: tr, Now: clk.Now})

	code, rb := readyz(t, s)
	if code != http.StatusServiceUnavailable || rb.Status != "not ready" || len(rb.Watches) != 2 {
		t.Fatalf("before any scan: %d %+v, want 503 naming both watches", code, rb)
	}
	if rb.Watches[0].Watch != odd || rb.Watches[1].Watch != "incoming" {
		t.Fatalf("not-ready watches %q, %q", rb.Watches[0].Watch, rb.Watches[1].Watch)
	}
	if rb.Watches[1].LastSuccess != nil || rb.Watches[1].Reason == "" {
		t.Fatalf("never-scanned watch: %+v, want null last_success and a reason", rb.Watches[1])
	}

	tr.ScanFinished("incoming", metrics.ScanOK, t0)
	code, rb = readyz(t, s)
	if code != http.StatusServiceUnavailable || len(rb.Watches) != 1 || rb.Watches[0].Watch != odd {
		t.Fatalf("one watch scanned: %d %+v, want 503 naming only %q", code, rb, odd)
	}

	tr.ScanFinished(odd, metrics.ScanPartial, t0) // partial counts as success
	if code, rb = readyz(t, s); code != http.StatusOK || rb.Status != "ready" || len(rb.Watches) != 0 {
		t.Fatalf("both scanned: %d %+v, want 200 ready", code, rb)
	}

	// odd's window is 1m: keep it fresh, let incoming (90s) age.
	tr.ScanFinished(odd, metrics.ScanOK, t0.Add(80*time.Second))
	clk.Set(t0.Add(90 * time.Second)) // exactly at the edge: still ready
	if code, _ = readyz(t, s); code != http.StatusOK {
		t.Fatalf("at the edge of the window: %d, want 200", code)
	}
	// An error scan does not refresh readiness.
	tr.ScanFinished("incoming", metrics.ScanError, t0.Add(90*time.Second))
	clk.Set(t0.Add(90*time.Second + time.Millisecond))
	code, rb = readyz(t, s)
	if code != http.StatusServiceUnavailable || len(rb.Watches) != 1 || rb.Watches[0].Watch != "incoming" {
		t.Fatalf("past the window: %d %+v, want 503 naming incoming", code, rb)
	}
	if ls := rb.Watches[0].LastSuccess; ls == nil || !ls.Equal(t0) {
		t.Fatalf("last_success = %v, want %v", ls, t0)
	}
	if !strings.Contains(rb.Watches[0].Reason, "error") {
		t.Fatalf("reason %q does not mention the failed scan", rb.Watches[0].Reason)
	}

	tr.ScanFinished("incoming", metrics.ScanOK, clk.Now())
	if code, _ = readyz(t, s); code != http.StatusOK {
		t.Fatalf("after a new ok scan: %d, want 200", code)
	}
	tr.RemoveWatch(odd)
	clk.Set(t0.Add(3 * time.Minute))
	if code, rb = readyz(t, s); code != http.StatusOK {
		t.Fatalf("removed watch still counted: %d %+v", code, rb)
	}
}

func TestReadyzWithoutReadinessIsReady(t *testing.T) {
	s := startServer(t, httpapi.Options{})
	if code, rb := readyz(t, s); code != http.StatusOK || rb.Status != "ready" {
		t.Fatalf("/readyz = %d %+v, want 200 ready", code, rb)
	}
}

func TestStartReportsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	s := httpapi.New(httpapi.Options{Listen: addr})
	err = s.Start()
	if err == nil {
		_ = s.Shutdown(context.Background())
		t.Fatalf("Start on busy %s succeeded", addr)
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Start error %q: want EADDRINUSE naming %s", err, addr)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr after failed Start = %q", s.Addr())
	}
}

func TestEmptyListenDisablesServer(t *testing.T) {
	s := httpapi.New(httpapi.Options{})
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr = %q, want empty", s.Addr())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownStopsListening(t *testing.T) {
	s := httpapi.New(httpapi.Options{Listen: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Shutdown", addr)
	}
}
