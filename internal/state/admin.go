package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Keys of the operator's tools (see doc.go).
const (
	keyEmitNext = "emit_next_first_scan"
	keyLastScan = "last_scan"
)

// ScanSummary is what the last scan of a watch did, kept so that the status
// of a stopped daemon can still tell it.
type ScanSummary struct {
	Time     time.Time     `json:"time"`
	Result   string        `json:"result"`
	Duration time.Duration `json:"duration"`
	Entries  int           `json:"entries"`
	Error    string        `json:"error,omitempty"`
}

// RetryDeadLetter moves dead letter id of watch back to the outbox under
// the same key (so with the same ID, in its commit-order place), with its
// attempt count reset: it resumes at the step that failed, or at the first
// step when fromStart.
func (s *Store) RetryDeadLetter(watch, id string, fromStart bool) error {
	key, err := idKey(watch, id)
	if err != nil {
		return fmt.Errorf("retry dead letter: %w", err)
	}
	err = s.update("retry dead letter", func(tx *bolt.Tx) error {
		w, r, err := getDead(tx, watch, id, key)
		if err != nil {
			return err
		}
		r.Attempts, r.Reason, r.At = 0, "", time.Time{}
		if fromStart {
			r.Step = 0
			r.Event.LocalPath = ""
		}
		v, err := encodeRecord(r)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", id, err)
		}
		if err := w.outbox.Put(key, v); err != nil {
			return err
		}
		return w.dead.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("retry dead letter %q of watch %q in %q: %w", id, watch, s.path, err)
	}
	return nil
}

// DiscardDeadLetter drops dead letter id of watch.
func (s *Store) DiscardDeadLetter(watch, id string) error {
	key, err := idKey(watch, id)
	if err != nil {
		return fmt.Errorf("discard dead letter: %w", err)
	}
	err = s.update("discard dead letter", func(tx *bolt.Tx) error {
		w, _, err := getDead(tx, watch, id, key)
		if err != nil {
			return err
		}
		return w.dead.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("discard dead letter %q of watch %q in %q: %w", id, watch, s.path, err)
	}
	return nil
}

// getDead reads the dead-letter record of id.
func getDead(tx *bolt.Tx, watch, id string, key []byte) (watchBuckets, record, error) {
	return getRecord(tx, watch, id, key, "dead letters", "dead-letter", func(w watchBuckets) *bolt.Bucket { return w.dead })
}

// ResetWatch is ResetSnapshot for an operator (`state reset`): with emit,
// the watch's next scan, a first scan, emits a create for every entry even
// when its `initial` setting is baseline (once: the commit of that scan
// clears the request).
func (s *Store) ResetWatch(watch string, emit bool) error {
	err := s.update("reset watch", func(tx *bolt.Tx) error {
		if err := resetTx(tx, watch); err != nil {
			return err
		}
		w, err := ensureWatch(tx, watch)
		if err != nil {
			return err
		}
		if !emit {
			return w.root.Delete([]byte(keyEmitNext))
		}
		return w.root.Put([]byte(keyEmitNext), []byte{1})
	})
	if err != nil {
		return fmt.Errorf("reset watch %q in %q: %w", watch, s.path, err)
	}
	return nil
}

// DeleteWatch removes everything stored for watch (`state prune`): its
// snapshot, outbox, dead letters and event sequence. A watch without
// state is not an error.
func (s *Store) DeleteWatch(watch string) error {
	err := s.update("delete watch", func(tx *bolt.Tx) error {
		ws := tx.Bucket([]byte(bucketWatches))
		if ws == nil {
			return fmt.Errorf("%q bucket missing: %w", bucketWatches, ErrCorrupt)
		}
		if ws.Bucket([]byte(watch)) == nil {
			return nil
		}
		return ws.DeleteBucket([]byte(watch))
	})
	if err != nil {
		return fmt.Errorf("delete state of watch %q in %q: %w", watch, s.path, err)
	}
	return nil
}

// PutScanSummary stores the summary of the last scan of a watch that has
// state (a watch without state is left alone).
func (s *Store) PutScanSummary(watch string, sum ScanSummary) error {
	v, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("encode scan summary of watch %q: %w", watch, err)
	}
	err = s.update("put scan summary", func(tx *bolt.Tx) error {
		root := watchBucket(tx, watch)
		if root == nil {
			return nil
		}
		return root.Put([]byte(keyLastScan), v)
	})
	if err != nil {
		return fmt.Errorf("store scan summary of watch %q in %q: %w", watch, s.path, err)
	}
	return nil
}

// WatchInfo is what the state holds about a watch, for `status` on a
// stopped daemon: counts read from page headers and the last scan summary
// (nil when none was stored).
type WatchInfo struct {
	Entries, Settling, Outbox, Dead int
	LastScan                        *ScanSummary
}

// Info returns what the state holds about watch (zero for a watch without
// state).
func (s *Store) Info(watch string) (WatchInfo, error) {
	var info WatchInfo
	err := s.view("watch info", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		info.Entries, info.Settling = w.snap.Stats().KeyN, w.pending.Stats().KeyN
		info.Outbox, info.Dead = w.outbox.Stats().KeyN, w.dead.Stats().KeyN
		if v := w.root.Get([]byte(keyLastScan)); v != nil {
			var sum ScanSummary
			if err := json.Unmarshal(v, &sum); err != nil {
				return fmt.Errorf("%s key: %w: %w", keyLastScan, ErrCorrupt, err)
			}
			info.LastScan = &sum
		}
		return nil
	})
	if err != nil {
		return WatchInfo{}, fmt.Errorf("read watch %q in %q: %w", watch, s.path, err)
	}
	return info, nil
}

// WriteTo writes a consistent copy of the whole state file to w, from one
// read transaction (commits go on meanwhile). It returns the bytes written.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := s.view("backup", func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("copy state file %q: %w", s.path, err)
	}
	return n, nil
}

// WriteFile writes what write produces to path atomically: into a temporary
// file beside it, fsynced, renamed over path, and the directory synced. A
// failure leaves path as it was. (`state backup` writes a state copy so.)
func WriteFile(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := write(f); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync dir %q: %w", dir, err)
	}
	return nil
}
