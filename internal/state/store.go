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
}

// Open opens (creating if needed) the state in dir and takes its lock. The
// directory is created with mode 0700 when missing. A state.db that is not
// an sftpwatchd state file, or was written by a newer version, is an error
// (ErrNotStateFile, ErrNewerFormat): it is never reset. A directory held by
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

	err := s.guard("open", func() error {
		db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: timeout})
		if err != nil {
			return err
		}
		s.db = db
		return nil
	})
	if err != nil {
		return nil, s.classifyOpenError(err)
	}
	if err := s.checkFormat(); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	s.log.Debug("state opened")
	return s, nil
}

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
		return fmt.Errorf("state file %q is %w: %w", s.path, ErrNotStateFile, err)
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
				return fmt.Errorf("state file %q is %w: it holds no sftpwatchd meta data", s.path, ErrNotStateFile)
			}
			fresh = true
			return nil
		}
		if m := meta.Get([]byte(keyMagic)); string(m) != magic {
			return fmt.Errorf("state file %q is %w: wrong magic %q", s.path, ErrNotStateFile, m)
		}
		f := meta.Get([]byte(keyFormat))
		if len(f) != 4 {
			return fmt.Errorf("state file %q is %w: malformed format version (%d bytes)", s.path, ErrNotStateFile, len(f))
		}
		switch v := binary.BigEndian.Uint32(f); {
		case v > formatVersion:
			return fmt.Errorf("state file %q was %w (format %d, this build reads up to %d)", s.path, ErrNewerFormat, v, formatVersion)
		case v == 0:
			return fmt.Errorf("state file %q is %w: format version 0", s.path, ErrNotStateFile)
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
	err = s.update("initialise", func(tx *bolt.Tx) error {
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
	})
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
