package daemon

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hangingStep is a chain whose step does not return by itself.
type hangingStep struct {
	name string
	// setup returns the actions: entries (in config syntax: $$ is a $); inFlight, polled, reports that
	// the step is under way (it may act to get it there); cancelled, asked
	// after Stop, that the step's context was cancelled; after, when not
	// nil, runs once Stop returned.
	setup func(t *testing.T, f *fixture) (actions string, inFlight, cancelled func() bool, after func())
}

func hangingSteps() []hangingStep {
	return []hangingStep{{
		name: "exec that sleeps",
		setup: func(t *testing.T, f *fixture) (string, func() bool, func() bool, func()) {
			actions, pid := sleepingExec(t)
			var first int
			inFlight := func() bool { first = pid(); return first != 0 }
			// The command was killed (and reaped): its pid is gone.
			cancelled := func() bool { return errors.Is(syscall.Kill(first, 0), syscall.ESRCH) }
			return actions, inFlight, cancelled, nil
		},
	}, {
		name: "webhook whose server never answers",
		setup: func(t *testing.T, f *fixture) (string, func() bool, func() bool, func()) {
			var started, gone atomic.Bool
			release := make(chan struct{}) // so that a failed test ends
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client going
				started.Store(true)
				select {
				case <-r.Context().Done(): // the client gave up
					gone.Store(true)
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			actions := fmt.Sprintf("      - {type: webhook, url: %q, timeout: 1h}\n", srv.URL)
			return actions, started.Load, gone.Load, nil
		},
	}, {
		// The exec gate holds the event until the server is frozen; the
		// download after it then waits for answers that never come.
		name: "download from a frozen server",
		setup: func(t *testing.T, f *fixture) (string, func() bool, func() bool, func()) {
			dir := t.TempDir()
			started, open, passed := filepath.Join(dir, "started"), filepath.Join(dir, "open"), filepath.Join(dir, "passed")
			actions := fmt.Sprintf("      - {type: exec, command: [sh, -c, 'touch \"$0\"; while [ ! -e \"$1\" ]; do sleep 0.02; done; touch \"$2\"', %q, %q, %q]}\n"+
				"      - {type: download, dest: %q}\n", started, open, passed, t.TempDir())
			frozen := false
			var at int64
			inFlight := func() bool {
				if !frozen {
					if _, err := os.Stat(started); err != nil {
						return false
					}
					f.srv.Freeze()
					frozen = true
					at = f.srv.Requests()
					if err := os.WriteFile(open, nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				// The download's first request reached the server.
				_, err := os.Stat(passed)
				return err == nil && f.srv.Requests() > at
			}
			thawed := false
			t.Cleanup(func() {
				if !thawed {
					f.srv.Thaw()
				}
			})
			// Nothing to observe on the server: the download's return is
			// checked by the goroutines settling.
			return actions, inFlight, func() bool { return true }, func() { thawed = true; f.srv.Thaw() }
		},
	}}
}

// TestStopWithHangingStep: Stop with a step in flight that does not return
// by itself waits shutdown_timeout for it, then cancels the step's context
// and closes the pools, and returns well within shutdown_timeout +
// stopGrace; the event stays in the outbox (delivered after a restart),
// and every goroutine the daemon started ends.
func TestStopWithHangingStep(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, tc := range hangingSteps() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			actions, inFlight, cancelled, after := tc.setup(t, f)
			// One scan, which emits f.csv: afterwards only the step talks
			// to the server.
			w := strings.Replace(f.watchActions("a", "h1", "    initial: emit\n", actions), "interval: 100ms", "interval: 1h", 1)
			cfg := f.config(timeout, f.host("h1", "", "u1"), w)
			f.put("a/f.csv")
			base := runtime.NumGoroutine()
			if err := f.d.Start(cfg); err != nil {
				t.Fatalf("Start: %v", err)
			}
			eventually(t, 15*time.Second, "the step is in flight", inFlight)
			pools := f.snapshot().pools

			start := time.Now()
			f.d.Stop()
			took := time.Since(start)
			t.Logf("Stop took %v (shutdown_timeout %v, stopGrace %v)", took, timeout, stopGrace)
			if after != nil {
				after()
			}
			if took < timeout {
				t.Errorf("Stop took %v: the step did not get shutdown_timeout (%v)", took, timeout)
			}
			// Each of these steps ends once its context is cancelled or its
			// pool closed: Stop must not need stopGrace (the bound it keeps
			// for steps that ignore both).
			if limit := timeout + stopGrace/2; took > limit {
				t.Errorf("Stop took %v, more than shutdown_timeout + %v: the step was not cut off at shutdown_timeout", took, limit-timeout)
			}
			// The far side of the step may learn of it a little later.
			eventually(t, 2*time.Second, "the far side of the step sees it cancelled", cancelled)
			if w := f.d.Watches(); len(w) != 0 {
				t.Errorf("watches %v still listed after Stop", w)
			}
			if len(pools) == 0 {
				t.Fatal("no pool ran")
			}
			for h, p := range pools {
				if !poolClosed(p) {
					t.Errorf("the pool of %s is open after Stop", h)
				}
			}
			items, err := f.store.Outbox("a")
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 1 || items[0].Event.RelPath != "f.csv" {
				t.Errorf("outbox after Stop = %+v, want the event of f.csv", items)
			}
			settledGoroutines(t, base, 5*time.Second)
		})
	}
}
