package poller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/poller"
)

// TestRunFollowUpScanWhenDue: with a long interval and a short settle, a new
// file is delivered about settle after the scan that first saw it, by one
// extra scan, not an interval later; the extra scan does not move the slots.
func TestRunFollowUpScanWhenDue(t *testing.T) {
	w := baseWatch()
	w.Interval = time.Hour
	w.Settle = 300 * time.Millisecond
	w.Initial = "emit"  // the first scan sees "new" as a create, which must settle
	for i := 0; ; i++ { // a name whose first scan comes at once
		w.Name = fmt.Sprintf("w%d", i)
		if poller.FirstScanDelay(w.Name, w.Interval) < 200*time.Millisecond {
			break
		}
	}
	f := newFixture(t)
	f.write(t, "new", "n", baseTime)
	store := openStore(t)
	var mu sync.Mutex
	scans := 0
	p := poller.New(poller.Options{Watch: w, Lister: f.lister(), Store: poller.StateStore{Store: store},
		OnScan: func(string, time.Time) { mu.Lock(); scans++; mu.Unlock() }})
	nScans := func() int { mu.Lock(); defer mu.Unlock(); return scans }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the create, by a follow-up scan settle after", func() bool {
		items, err := store.Outbox(w.Name)
		return err == nil && len(items) == 1 && items[0].Event.RelPath == "new"
	})
	// OnScan runs after the commit: the follow-up's call may come a moment
	// after its create is in the outbox.
	waitUntil(t, "the follow-up scan's end", func() bool { return nScans() >= 2 })
	n := nScans()
	if n != 2 {
		t.Errorf("%d scans to deliver the create, want 2 (the first, one follow-up)", n)
	}
	time.Sleep(1500 * time.Millisecond) // a follow-up after the follow-up would run by now
	if got := nScans(); got != n {
		t.Errorf("%d scans after the create was delivered with nothing settling, want none", got-n)
	}
}
