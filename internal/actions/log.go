package actions

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// timeFormat is how event times appear in logs and the exec environment.
const timeFormat = time.RFC3339Nano

// Log writes one info line per event to the daemon's log.
//
//   - type: log
//
// The line carries the event's id, type, path, rel_path, entry type, size,
// mtime and, where set, the previous size and mtime, old path and local path.
//
// Default events: all.
type Log struct {
	events eventSet
	log    *zap.Logger
}

var _ Action = (*Log)(nil)

// NewLog builds a log action.
func NewLog(cfg config.Action, d Deps) (*Log, error) {
	evs, err := newEventSet(cfg.Events, event.Types...)
	if err != nil {
		return nil, err
	}
	return &Log{events: evs, log: loggerOrNop(d.Logger)}, nil
}

// Type implements Action.
func (*Log) Type() string { return "log" }

// Handles implements Action.
func (a *Log) Handles(t event.Type) bool { return a.events.has(t) }

// Run implements Action.
func (a *Log) Run(_ context.Context, ev *event.Event) error {
	a.log.Info("event", eventFields(ev)...)
	return nil
}

// eventFields renders an event as zap fields.
func eventFields(ev *event.Event) []zap.Field {
	f := []zap.Field{
		zap.String("id", ev.ID),
		zap.String("type", string(ev.Type)),
		zap.String("host", ev.Host),
		zap.String("path", ev.Path),
		zap.String("rel_path", ev.RelPath),
		zap.String("entry_type", ev.EntryType),
		zap.Int64("size", ev.Size),
		zap.String("mtime", ev.MTime.UTC().Format(timeFormat)),
	}
	for _, c := range []struct{ key, v string }{
		{"path_b64", ev.Path}, {"rel_path_b64", ev.RelPath}, {"old_path_b64", ev.OldPath}, {"local_path_b64", ev.LocalPath},
	} {
		if b := event.B64(c.v); b != "" { // the exact bytes of a name that is not UTF-8
			f = append(f, zap.String(c.key, b))
		}
	}
	if ev.Mode != "" {
		f = append(f, zap.String("mode", ev.Mode))
	}
	if ev.Prev != nil {
		f = append(f, zap.Int64("prev_size", ev.Prev.Size),
			zap.String("prev_mtime", ev.Prev.MTime.UTC().Format(timeFormat)))
	}
	if ev.OldPath != "" {
		f = append(f, zap.String("old_path", ev.OldPath))
	}
	if ev.LocalPath != "" {
		f = append(f, zap.String("local_path", ev.LocalPath))
	}
	return f
}

func loggerOrNop(l *zap.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return l
}
