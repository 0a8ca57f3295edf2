package dispatch

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// memStore is an in-memory Store double: storage only, with injectable
// failures. It keeps the contract of the real store: Advance resets the
// attempt count; unknown ids are an error.
type memStore struct {
	mu       sync.Mutex
	outbox   []Item
	dead     []deadRec
	fail     map[string]int // op → number of next calls to fail
	lie      map[string]int // op → number of next calls to perform and then report failing
	calls    map[string]int // op → calls (including failed ones)
	attempts []int          // every RecordAttempt value, in order
}

type deadRec struct {
	ID     string
	Reason string
	At     time.Time
	Item   Item
}

var errInjected = errors.New("injected store failure (disk full)")

func newMemStore() *memStore {
	return &memStore{fail: map[string]int{}, lie: map[string]int{}, calls: map[string]int{}}
}

var _ Store = (*memStore)(nil)

// add commits events to the outbox, in order.
func (s *memStore) add(evs ...event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.outbox = append(s.outbox, Item{Event: ev})
	}
}

func (s *memStore) addItem(it Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox = append(s.outbox, it)
}

func (s *memStore) failNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = n
}

// lieNext makes the next n calls of op take effect but return an error, like
// a commit whose acknowledgement was lost.
func (s *memStore) lieNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lie[op] = n
}

// lied reports whether the call of op that just took effect must report an
// error. Caller holds mu.
func (s *memStore) lied(op string) error {
	if s.lie[op] > 0 {
		s.lie[op]--
		return fmt.Errorf("%s: acknowledgement lost: %w", op, errInjected)
	}
	return nil
}

func (s *memStore) callCount(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// enter counts a call of op and reports an injected failure. Caller holds mu.
func (s *memStore) enter(op string) error {
	s.calls[op]++
	if s.fail[op] > 0 {
		s.fail[op]--
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

func (s *memStore) find(id string) int {
	for i := range s.outbox {
		if s.outbox[i].Event.ID == id {
			return i
		}
	}
	return -1
}

func (s *memStore) Outbox(watch string) ([]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("outbox"); err != nil {
		return nil, err
	}
	return append([]Item(nil), s.outbox...), nil
}

func (s *memStore) Advance(watch, id string, nextStep int, ev event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("advance"); err != nil {
		return err
	}
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("advance %q: not in outbox", id)
	}
	s.outbox[i] = Item{Event: ev, Step: nextStep}
	return nil
}

func (s *memStore) RecordAttempt(watch, id string, attempts int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("attempt"); err != nil {
		return err
	}
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("record attempt %q: not in outbox", id)
	}
	s.outbox[i].Attempts = attempts
	s.attempts = append(s.attempts, attempts)
	return nil
}

func (s *memStore) Done(watch, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("done"); err != nil {
		return err
	}
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("done %q: not in outbox", id)
	}
	s.outbox = append(s.outbox[:i], s.outbox[i+1:]...)
	return s.lied("done")
}

func (s *memStore) DeadLetter(watch, id, reason string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("dead"); err != nil {
		return err
	}
	i := s.find(id)
	if i < 0 {
		return fmt.Errorf("dead letter %q: not in outbox", id)
	}
	s.dead = append(s.dead, deadRec{ID: id, Reason: reason, At: at, Item: s.outbox[i]})
	s.outbox = append(s.outbox[:i], s.outbox[i+1:]...)
	return nil
}

func (s *memStore) Counts(watch string) (int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter("counts"); err != nil {
		return 0, 0, err
	}
	return len(s.outbox), len(s.dead), nil
}

func (s *memStore) snapshot() ([]Item, []deadRec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Item(nil), s.outbox...), append([]deadRec(nil), s.dead...)
}
