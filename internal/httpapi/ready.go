package httpapi

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// Readiness reports the watches that keep the process from being ready.
// An empty result means ready. It is called on every /readyz request, from
// the HTTP server's goroutines.
type Readiness interface {
	NotReady(now time.Time) []WatchStatus
}

// WatchStatus names a watch that is not ready and why. It is part of the
// /readyz 503 body.
type WatchStatus struct {
	Watch string `json:"watch"`
	// LastSuccess is when the watch last finished an ok or partial scan;
	// null when it never has.
	LastSuccess *time.Time `json:"last_success"`
	Reason      string     `json:"reason"`
}

// MinReadyWindow is the lower bound of the readiness window: a watch is ready
// when it finished an ok or partial scan within max(3 × interval,
// MinReadyWindow) (SPEC section 5).
const MinReadyWindow = time.Minute

// ReadyWindow returns max(3 × interval, MinReadyWindow).
func ReadyWindow(interval time.Duration) time.Duration {
	if w := 3 * interval; w > MinReadyWindow {
		return w
	}
	return MinReadyWindow
}

// Tracker implements Readiness from what the daemon tells it: which watches
// exist (SetWatch, RemoveWatch) and when their scans finish (ScanFinished).
// It is safe for concurrent use.
type Tracker struct {
	now func() time.Time

	mu      sync.Mutex
	watches map[string]*watchState
}

type watchState struct {
	interval    time.Duration
	added       time.Time
	lastSuccess time.Time // zero: never
	lastScan    time.Time // zero: never
	lastResult  string
}

var _ Readiness = (*Tracker)(nil)

// NewTracker returns an empty Tracker (ready: no watches). now is its clock,
// used to note when a watch was added and for a zero at in ScanFinished; nil
// means time.Now.
func NewTracker(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, watches: make(map[string]*watchState)}
}

// SetWatch adds a watch, or changes the interval of a known one while keeping
// its scan history (a reload that leaves a watch in place must not make it
// unready).
func (t *Tracker) SetWatch(name string, interval time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.watches[name]; ok {
		w.interval = interval
		return
	}
	t.watches[name] = &watchState{interval: interval, added: t.now()}
}

// RemoveWatch forgets a watch; unknown names are ignored.
func (t *Tracker) RemoveWatch(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.watches, name)
}

// ScanFinished records a finished scan of a known watch. result is
// metrics.ScanOK, metrics.ScanPartial (both count as success) or metrics.ScanError (anything
// else is treated as a failure too). A zero at means now. Scans of unknown
// watches (removed by a reload while scanning) are ignored.
func (t *Tracker) ScanFinished(name, result string, at time.Time) {
	if at.IsZero() {
		at = t.now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.watches[name]
	if !ok {
		return
	}
	if at.After(w.lastScan) {
		w.lastScan, w.lastResult = at, result
	}
	if (result == metrics.ScanOK || result == metrics.ScanPartial) && at.After(w.lastSuccess) {
		w.lastSuccess = at
	}
}

// NotReady returns the watches that did not finish an ok or partial scan
// within their ready window before now, sorted by name.
func (t *Tracker) NotReady(now time.Time) []WatchStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []WatchStatus
	for name, w := range t.watches {
		window := ReadyWindow(w.interval)
		if !w.lastSuccess.IsZero() && now.Sub(w.lastSuccess) <= window {
			continue
		}
		st := WatchStatus{Watch: name}
		if w.lastSuccess.IsZero() {
			st.Reason = fmt.Sprintf("no successful scan since the watch was added %s ago", age(now, w.added))
		} else {
			ls := w.lastSuccess
			st.LastSuccess = &ls
			st.Reason = fmt.Sprintf("last successful scan %s ago, longer than %s (max(3 × interval %s, %s))",
				age(now, ls), window, w.interval, MinReadyWindow)
		}
		switch {
		case w.lastScan.IsZero():
			st.Reason += "; no scan has finished yet"
		case w.lastResult != metrics.ScanOK && w.lastResult != metrics.ScanPartial:
			st.Reason += fmt.Sprintf("; the last scan %s ago ended in %s", age(now, w.lastScan), w.lastResult)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Watch < out[j].Watch })
	return out
}

func age(now, then time.Time) time.Duration {
	return now.Sub(then).Round(time.Second)
}
