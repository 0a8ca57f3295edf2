package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/sftpwatchd/sftpwatchd/internal/state"
	"github.com/sftpwatchd/sftpwatchd/internal/state/statetest"
)

// TestConformance runs the backends' conformance suite against bbolt.
func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dir string) statetest.Backend {
		s, err := state.Open(dir, state.Options{Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatalf("Open(%q): %v", dir, err)
		}
		return &boltBackend{Store: s}
	})
}

// boltBackend is the bbolt store with the suite's crash and fault hooks.
type boltBackend struct{ *state.Store }

// Crash leaves the state file as a killed process would: what is on disk
// now. bbolt writes nothing at Close, so the copy put back is that.
func (b *boltBackend) Crash() error {
	path := filepath.Join(b.Dir(), state.FileName)
	onDisk, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := b.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, onDisk, 0o600)
}

// FailNextCommit makes the next Commit fail inside its transaction.
func (b *boltBackend) FailNextCommit(err error) { state.FailNextCommit(b.Store, err) }
