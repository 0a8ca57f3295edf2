package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// FileName is the name of the state file inside the state directory.
const FileName = "state.db"

// DefaultLockTimeout is how long Open waits for another process to release
// the state directory when Options.LockTimeout is not set.
const DefaultLockTimeout = 100 * time.Millisecond

// The format this build writes and the newest it reads.
const (
	magic         = "sftpwatchd-state"
	formatVersion = 1
)

// Bucket and key names (see doc.go).
const (
	bucketMeta    = "meta"
	bucketWatches = "watches"
	keyMagic      = "magic"
	keyFormat     = "format"
	keyInit       = "initialized"
	keyFilter     = "filter"
	keyOrigin     = "origin"
	keyBasePend   = "baseline_pending"
	bucketSnap    = "snap"
	bucketPending = "pending"
	bucketSelf    = "self"
	bucketOutbox  = "outbox"
	bucketDead    = "dead"
	bucketSeq     = "seq"
)

// Options tune Open.
type Options struct {
	// Logger receives open/close and corruption reports; nil means no logs.
	Logger *zap.Logger
	// LockTimeout bounds the wait for the directory lock; zero or negative
	// means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is the bbolt-backed state of every watch in one state directory.
// It is safe for concurrent use; write methods serialise on bbolt's single
// writer and each one is one fsynced transaction.
type Store struct {
	db   *bolt.DB
	dir  string
	path string
	log  *zap.Logger

	// commitHook, when set (tests only), runs inside Commit's transaction
	// after every write; an error from it must roll everything back.
	commitHook func() error
	// baselinePart, when set (tests only), replaces the package's
	// baselinePart.
	baselinePart int
}

// Open opens (creating if needed) the state in dir and takes its lock. The
// directory is created with mode 0700 when missing, a missing state.db
// atomically (see create). A state.db that is empty, is not an sftpwatchd
// state file, or was written by a newer version, is an error naming it and
// the fix (ErrEmpty, ErrNotStateFile, ErrNewerFormat): it is never reset. A directory held by
// another Store, in this or another process, gives ErrLocked after
// LockTimeout.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open state: empty state dir")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir %q: %w", dir, err)
	}
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), log: log.With(zap.String("state_file", filepath.Join(dir, FileName)))}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.create(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("open state file %q: %w", s.path, err)
	case fi.Mode().IsRegular() && fi.Size() == 0:
		// bbolt would silently initialise it: the snapshot and the
		// undelivered outbox would be gone without a word.
		return nil, fmt.Errorf("state file %q is %w: restore it from a backup, or remove it to start over (every watch will re-baseline)", s.path, ErrEmpty)
	}

	err = s.guard("open", func() error {
		db, err := bolt.Open(s.path, 0o600, boltOptions(timeout))
		if err != nil {
			return err
		}
		db.AllocSize = allocSize
		s.db = db
		return nil
	})
	if err != nil {
		return nil, s.classifyOpenError(err)
	}
	s.removeStaleTemp()
	if err := s.checkFormat(); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	s.log.Debug("state opened")
	return s, nil
}

// allocSize is how far beyond what it needs bbolt grows the file (its
// default is 16 MiB; below that size the file doubles). Kept small so that
// a state file never takes much more of a small filesystem than it uses:
// when the state disk filled up, freeing the space that filled it is
// enough for the next commit.
const allocSize = 1 << 20

func boltOptions(timeout time.Duration) *bolt.Options {
	return &bolt.Options{Timeout: timeout}
}

// tempPattern names the file a new state file is initialised in.
const tempPattern = "." + FileName + "-*.tmp"

// create makes a new, initialised state file atomically: it is built in a
// temporary file of the state dir, synced, and linked into place (a link,
// unlike a rename, never replaces a state file another process created
// meanwhile), then the directory is synced. A crash at any moment leaves
// either no state.db or a complete one, never an empty one (which Open
// refuses).
func (s *Store) create() error {
	f, err := os.CreateTemp(s.dir, tempPattern)
	if err != nil {
		return fmt.Errorf("create state file in %q: %w", s.dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Close(); err != nil {
		return fmt.Errorf("create state file %q: %w", tmp, err)
	}
	err = s.guard("create", func() error {
		db, err := bolt.Open(tmp, 0o600, boltOptions(DefaultLockTimeout))
		if err != nil {
			return err
		}
		db.AllocSize = allocSize
		err = db.Update(initialise)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("initialise state file %q: %w", tmp, err)
	}
	// bbolt synced the file at its commit.
	if err := os.Link(tmp, s.path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create state file %q: %w", s.path, err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("sync state dir %q: %w", s.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state dir %q: %w", s.dir, err)
	}
	return nil
}

// removeStaleTemp removes the temporary files of creations a crash
// interrupted. Called with the lock held: a creation still running in
// another process finds its file gone and opens the state file instead.
func (s *Store) removeStaleTemp() {
	stale, _ := filepath.Glob(filepath.Join(s.dir, tempPattern)) // the pattern is valid
	for _, p := range stale {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove a stale temporary state file", zap.String("path", p), zap.Error(err))
		}
	}
}

// initialise writes the meta data of a new state file.
func initialise(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket([]byte(bucketMeta))
	if err != nil {
		return err
	}
	if err := meta.Put([]byte(keyMagic), []byte(magic)); err != nil {
		return err
	}
	if err := meta.Put([]byte(keyFormat), binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
		return err
	}
	_, err = tx.CreateBucket([]byte(bucketWatches))
	return err
}

// notOurs is the fix named in every "not a state file" error.
const notOurs = "it is left as it is: point state_dir at another directory, or move the file away to start over (every watch will re-baseline)"

// classifyOpenError turns bbolt's Open errors into ours, naming the file.
func (s *Store) classifyOpenError(err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.As(err, new(*panicError)):
		return fmt.Errorf("open %q: %w", s.path, err)
	case errors.Is(err, berrors.ErrTimeout):
		return &lockedError{dir: s.dir, cause: err}
	case errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("state file %q is %w: %w", s.path, ErrCorrupt, err)
	case errors.As(err, &pathErr):
		return fmt.Errorf("open state file %q: %w", s.path, err)
	default:
		// ErrInvalid, ErrVersionMismatch, "file size too small" …: the
		// file's content is not a bbolt database of ours.
		return fmt.Errorf("state file %q is %w (%w); %s", s.path, ErrNotStateFile, err, notOurs)
	}
}

// checkFormat verifies the meta bucket, initialising a database that has
// no buckets at all (just created, or created by a crash before the first
// transaction). It never writes to a file it does not recognise.
func (s *Store) checkFormat() error {
	var fresh bool
	err := s.view("open", func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
				empty = false
				return errStop
			})
			if !empty {
				return fmt.Errorf("state file %q is %w: it holds no sftpwatchd meta data; %s", s.path, ErrNotStateFile, notOurs)
			}
			fresh = true
			return nil
		}
		if m := meta.Get([]byte(keyMagic)); string(m) != magic {
			return fmt.Errorf("state file %q is %w: wrong magic %q; %s", s.path, ErrNotStateFile, m, notOurs)
		}
		f := meta.Get([]byte(keyFormat))
		if len(f) != 4 {
			return fmt.Errorf("state file %q is %w: malformed format version (%d bytes); %s", s.path, ErrNotStateFile, len(f), notOurs)
		}
		switch v := binary.BigEndian.Uint32(f); {
		case v > formatVersion:
			return fmt.Errorf("state file %q was %w (format %d, this build reads up to %d)", s.path, ErrNewerFormat, v, formatVersion)
		case v == 0:
			return fmt.Errorf("state file %q is %w: format version 0; %s", s.path, ErrNotStateFile, notOurs)
		}
		if tx.Bucket([]byte(bucketWatches)) == nil {
			return fmt.Errorf("state file %q is %w: %q bucket missing", s.path, ErrCorrupt, bucketWatches)
		}
		return nil
	})
	if errors.As(err, new(*panicError)) {
		return fmt.Errorf("open %q: %w", s.path, err)
	}
	if err != nil || !fresh {
		return err
	}
	err = s.update("initialise", initialise)
	if err != nil {
		return fmt.Errorf("initialise state file %q: %w", s.path, err)
	}
	return nil
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")

// Close releases the lock and closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state file %q: %w", s.path, err)
	}
	return nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// view and update run fn in a read or write transaction, turning a panic
// or a memory fault inside bbolt (which a damaged file can cause) into an
// ErrCorrupt error.
func (s *Store) view(op string, fn func(*bolt.Tx) error) error {
	return s.guard(op, func() error { return s.db.View(fn) })
}

func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	return s.guard(op, func() error { return s.db.Update(fn) })
}

func (s *Store) guard(op string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("state file unreadable", zap.String("op", op), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = &panicError{value: r}
		}
	}()
	return fn()
}
