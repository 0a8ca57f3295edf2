package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// Remote is what the remote-side actions (download, move, delete) need from
// an SFTP connection. Paths are remote, slash-separated, absolute. Errors for
// a missing path wrap fs.ErrNotExist and for a refused one fs.ErrPermission;
// anything else (a lost connection, say) is taken as transient.
// sftpconn's Pool satisfies it.
type Remote interface {
	Stat(ctx context.Context, p string) (os.FileInfo, error)
	Lstat(ctx context.Context, p string) (os.FileInfo, error)
	// GetTo copies the remote file p into w and returns the bytes copied.
	// progress, if not nil, is called with the bytes copied so far.
	GetTo(ctx context.Context, p string, w io.Writer, progress func(written int64)) (int64, error)
	Rename(ctx context.Context, oldpath, newpath string) error
	// MakeDirs creates p and any missing parents; an existing directory is
	// not an error, and one wrapping sftpconn.ErrAttrsNotSet is a warning
	// (created, but the server refused to set the mode).
	MakeDirs(ctx context.Context, p string, mode os.FileMode) error
	Remove(ctx context.Context, p string) error
}

// SelfRemovals records remote paths the daemon itself is about to move or
// delete, so that the poller emits no delete event for them (SPEC section 4).
// relPath is relative to the watch root. The state Store satisfies it.
type SelfRemovals interface {
	MarkSelfRemoved(watch, relPath string) error
	UnmarkSelfRemoved(watch, relPath string) error
}

// Deps is what actions are built with besides their own config: the watch
// they belong to and the shared collaborators. Remote and Self are needed by
// download, move and delete only; Logger and Metrics may be nil.
type Deps struct {
	Watch string // watch name
	Host  string // host name
	Root  string // remote watch root path
	// FollowSymlinks is the watch's follow_symlinks: an event for a link the
	// walk followed reports its target, and download copies the target.
	FollowSymlinks bool
	Remote         Remote
	Self           SelfRemovals
	Logger         *zap.Logger
	Metrics        *metrics.Metrics
	Version        string // for the webhook User-Agent
}

// constructor builds one action type from its config.
type constructor func(config.Action, Deps) (Action, error)

// constructors is the one registry of action types.
func constructors() map[string]constructor {
	return map[string]constructor{
		"download": func(c config.Action, d Deps) (Action, error) { return NewDownload(c, d) },
		"exec":     func(c config.Action, d Deps) (Action, error) { return NewExec(c, d) },
		"webhook":  func(c config.Action, d Deps) (Action, error) { return NewWebhook(c, d) },
		"move":     func(c config.Action, d Deps) (Action, error) { return NewMove(c, d) },
		"delete":   func(c config.Action, d Deps) (Action, error) { return NewDelete(c, d) },
		"log":      func(c config.Action, d Deps) (Action, error) { return NewLog(c, d) },
	}
}

// Types lists the action type names New accepts, sorted.
func Types() []string {
	m := constructors()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the action cfg.Type describes. Each constructor validates its
// own config, even though the config package has validated it already.
// The caller owns the result and must Close it when it implements Closer.
func New(cfg config.Action, d Deps) (Action, error) {
	c, ok := constructors()[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("action type %q: unknown (one of %v)", cfg.Type, Types())
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	d.Logger = d.Logger.With(zap.String("watch", d.Watch), zap.String("action", cfg.Type))
	a, err := c(cfg, d)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", cfg.Type, err)
	}
	return a, nil
}

// eventSet is the set of event types an action runs for.
type eventSet map[event.Type]bool

func (s eventSet) has(t event.Type) bool { return s[t] }

// newEventSet parses an action's `events:` list; an empty list means def.
func newEventSet(names []string, def ...event.Type) (eventSet, error) {
	s := eventSet{}
	if len(names) == 0 {
		for _, t := range def {
			s[t] = true
		}
		return s, nil
	}
	for _, n := range names {
		t := event.Type(n)
		if !slices.Contains(event.Types, t) {
			return nil, fmt.Errorf("events: unknown event type %q (one of %v)", n, event.Types)
		}
		s[t] = true
	}
	return s, nil
}

// errNoRemote is returned by constructors that need Deps.Remote without it.
var errNoRemote = errors.New("no remote connection given (Deps.Remote is nil)")
