package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// TestOnDeadLetterRunsOnceAndNeverLosesTheLetter: the hook runs once per
// event that gives up (after max_attempts and after a permanent failure),
// with the event as the chain left it; its note or its error goes into the
// reason, and a failing hook still dead-letters the event.
func TestOnDeadLetterRunsOnceAndNeverLosesTheLetter(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "a.csv"), ev("e2", "b.csv"), ev("e3", "c.csv"))
	rec := &recorder{}
	opt := fastRetry(2)
	var mu sync.Mutex
	hooked := map[string]int{}
	opt.OnDeadLetter = func(_ context.Context, e *event.Event) (string, error) {
		mu.Lock()
		hooked[e.ID]++
		mu.Unlock()
		if e.ID == "e2" {
			return "", errors.New("permission denied")
		}
		return "moved " + e.RelPath, nil
	}
	opt.Actions = []actions.Action{
		&failAction{name: "webhook", rec: rec, n: 100, only: "a.csv", mk: func() error { return errors.New("500") }},
		&failAction{name: "exec", rec: rec, n: 100, only: "b.csv", mk: func() error { return actions.Permanent(errors.New("exit 3")) }},
	}
	sum := drain(t, New(store, opt))
	if sum.DeadLettered != 2 || sum.Delivered != 1 {
		t.Fatalf("summary %+v, want 2 dead letters and 1 delivered", sum)
	}
	if hooked["e1"] != 1 || hooked["e2"] != 1 || hooked["e3"] != 0 {
		t.Errorf("hook calls %v, want once for e1 and e2, never for e3", hooked)
	}
	_, dead := store.snapshot()
	reasons := map[string]string{}
	for _, d := range dead {
		reasons[d.ID] = d.Reason
	}
	if r := reasons["e1"]; !strings.Contains(r, "failed 2 times") || !strings.HasSuffix(r, "; moved a.csv") {
		t.Errorf("e1 reason %q: want the failures and the hook's note", r)
	}
	if r := reasons["e2"]; !strings.Contains(r, "failed permanently") || !strings.Contains(r, "on_dead_letter failed: permission denied") {
		t.Errorf("e2 reason %q: want the permanent failure and the hook's error", r)
	}
	if n := rec.count("exec", "e2"); n != 1 {
		t.Errorf("the permanently failing step ran %d times", n)
	}
}
