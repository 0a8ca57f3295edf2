package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

const (
	// DefaultExecTimeout bounds a command when the config gives no timeout.
	DefaultExecTimeout = 5 * time.Minute
	// execOutputLimit is how much of stdout and of stderr is kept for the log.
	execOutputLimit = 64 << 10
	// execErrTail is how much of the end of stderr goes into the error.
	execErrTail = 512
	// execWaitDelay bounds the wait for the output pipes after the command
	// exited or was killed: a grandchild that still holds them cannot hang us.
	execWaitDelay = 2 * time.Second
)

// Exec runs a command for every event, without a shell.
//
//   - type: exec
//     command: ["/usr/local/bin/ingest", "{{.LocalPath}}"]   # argv, no shell
//     timeout: 5m
//     env: {MODE: batch}
//     inherit_env: false      # true: the daemon's whole environment
//     dir: /tmp
//
// Every argv element is a Go text/template over the event: .ID .Watch .Host
// .Type .Path .RelPath .Name .EntryType .Size .MTime (RFC 3339) .Mode
// .LocalPath .OldPath .OldRelPath. A rendered element is one argument, byte
// for byte, whatever it contains: no shell ever parses it. The event JSON is
// on stdin. The environment is minimal: the daemon's PATH (or, when it has
// none, /usr/local/bin:/usr/bin:/bin), LANG, TZ and HOME where it has them,
// plus env, plus SFTPWATCHD_EVENT_ID, _EVENT_TYPE, _WATCH, _HOST, _PATH,
// _REL_PATH, _SIZE, _MTIME and, when set, _LOCAL_PATH and _OLD_PATH. The
// rest of the daemon's environment, where ${VAR} secrets live, is passed
// only with inherit_env: true. The command runs in its own process group;
// on timeout the whole group is killed.
//
// Exit status 0 is success; any other status or the timeout fails the
// attempt (retried); a status listed in permanent_exit_codes, or a command
// that does not exist or is not executable, fails permanently (dead letter
// after one attempt). A command killed by a signal is retried whatever the
// list holds. The first 64 KiB of stdout and stderr are logged.
//
// Default events: all.
type Exec struct {
	argv       []*template.Template
	env        []string // "K=V" from config, sorted by key
	inheritEnv bool
	dir        string
	timeout    time.Duration
	waitDelay  time.Duration
	events     eventSet
	permanent  map[int]bool // exit statuses that fail permanently
	log        *zap.Logger
}

var _ Action = (*Exec)(nil)

// NewExec builds an exec action, parsing every argv template once. A
// template that does not parse, or names a field the event does not have, is
// an error here rather than at the first event.
func NewExec(cfg config.Action, d Deps) (*Exec, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("command: required (argv list, first element the program)")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("timeout: %s is negative", cfg.Timeout)
	}
	evs, err := newEventSet(cfg.Events, event.Types...)
	if err != nil {
		return nil, err
	}
	e := &Exec{dir: cfg.Dir, timeout: cfg.Timeout, waitDelay: execWaitDelay, events: evs,
		inheritEnv: cfg.InheritEnv, log: loggerOrNop(d.Logger)}
	if e.timeout == 0 {
		e.timeout = DefaultExecTimeout
	}
	for _, c := range cfg.PermanentExitCodes {
		if c < 1 || c > 255 {
			return nil, fmt.Errorf("permanent_exit_codes: %d is not an exit status from 1 to 255", c)
		}
		if e.permanent == nil {
			e.permanent = map[int]bool{}
		}
		e.permanent[c] = true
	}
	probe := templateData(&event.Event{})
	for i, s := range cfg.Command {
		t, err := template.New(fmt.Sprintf("command[%d]", i)).Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("command[%d] %q: %w", i, s, err)
		}
		if err := t.Execute(&bytes.Buffer{}, probe); err != nil {
			return nil, fmt.Errorf("command[%d] %q: %w", i, s, err)
		}
		e.argv = append(e.argv, t)
	}
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("env: invalid variable name %q", k)
		}
		if strings.ContainsRune(cfg.Env[k], 0) {
			return nil, fmt.Errorf("env.%s: value contains a NUL byte", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.env = append(e.env, k+"="+cfg.Env[k])
	}
	return e, nil
}

// Type implements Action.
func (*Exec) Type() string { return "exec" }

// Handles implements Action.
func (a *Exec) Handles(t event.Type) bool { return a.events.has(t) }

// execData is what argv templates see: the event's fields, times as RFC 3339.
type execData struct {
	ID, Watch, Host, Type, Path, RelPath, Name, EntryType string
	Size                                                  int64
	MTime, Mode, LocalPath, OldPath, OldRelPath           string
}

func templateData(ev *event.Event) execData {
	return execData{
		ID: ev.ID, Watch: ev.Watch, Host: ev.Host, Type: string(ev.Type), Path: ev.Path,
		RelPath: ev.RelPath, Name: ev.Name, EntryType: ev.EntryType, Size: ev.Size,
		MTime: ev.MTime.UTC().Format(time.RFC3339), Mode: ev.Mode, LocalPath: ev.LocalPath,
		OldPath: ev.OldPath, OldRelPath: ev.OldRelPath,
	}
}

// render expands the argv templates for ev.
func (a *Exec) render(ev *event.Event) ([]string, error) {
	data := templateData(ev)
	argv := make([]string, len(a.argv))
	for i, t := range a.argv {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("command[%d]: %w", i, err)
		}
		if strings.ContainsRune(b.String(), 0) {
			return nil, fmt.Errorf("command[%d] %q: contains a NUL byte, which no argument can hold", i, b.String())
		}
		argv[i] = b.String()
	}
	if argv[0] == "" {
		return nil, errors.New("command[0] renders empty")
	}
	return argv, nil
}

// defaultPath is the command's PATH when the daemon has none (or an empty one).
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// baseEnv is the part of a command's environment that comes from the
// daemon's (read through environ and lookup): all of it with inherit, else
// only PATH, LANG, TZ and HOME where they are set. PATH is defaultPath when
// the daemon has none.
func baseEnv(inherit bool, environ func() []string, lookup func(string) (string, bool)) []string {
	var env []string
	if inherit {
		env = environ()
	} else {
		for _, k := range [...]string{"PATH", "LANG", "TZ", "HOME"} {
			if v, ok := lookup(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	if v, _ := lookup("PATH"); v == "" {
		env = append(env, "PATH="+defaultPath) // later entries win
	}
	return env
}

// environ is the command's environment for ev: the daemon's minimal one (or
// all of it with inherit_env), the configured variables, then the event's
// (later entries win).
func (a *Exec) environ(ev *event.Event) []string {
	env := append(baseEnv(a.inheritEnv, os.Environ, os.LookupEnv), a.env...)
	add := func(k, v string) {
		env = append(env, "SFTPWATCHD_"+k+"="+strings.ReplaceAll(v, "\x00", ""))
	}
	add("EVENT_ID", ev.ID)
	add("EVENT_TYPE", string(ev.Type))
	add("WATCH", ev.Watch)
	add("HOST", ev.Host)
	add("PATH", ev.Path)
	add("REL_PATH", ev.RelPath)
	add("SIZE", strconv.FormatInt(ev.Size, 10))
	add("MTIME", ev.MTime.UTC().Format(time.RFC3339))
	if ev.LocalPath != "" {
		add("LOCAL_PATH", ev.LocalPath)
	}
	if ev.OldPath != "" {
		add("OLD_PATH", ev.OldPath)
	}
	return env
}

// Run implements Action.
func (a *Exec) Run(ctx context.Context, ev *event.Event) error {
	argv, err := a.render(ev)
	if err != nil {
		return Permanent(fmt.Errorf("exec for %q: %w", ev.RelPath, err))
	}
	stdin, err := json.Marshal(ev)
	if err != nil {
		return Permanent(fmt.Errorf("exec %q: encode event: %w", argv[0], err))
	}
	tctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	cmd.Env = a.environ(ev)
	cmd.Dir = a.dir
	cmd.Stdin = bytes.NewReader(stdin)
	stdout, stderr := &boundedBuffer{limit: execOutputLimit}, &boundedBuffer{limit: execOutputLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The process group id is the leader's pid (Setpgid with Pgid 0).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = a.waitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("exec %q: start: %w", argv[0], err)
		if isNotRunnable(err) {
			return Permanent(err)
		}
		return err
	}
	err = cmd.Wait()
	fields := []zap.Field{
		zap.String("id", ev.ID), zap.String("path", ev.Path), zap.Strings("argv", argv),
		zap.Duration("duration", time.Since(start)),
		zap.String("stdout", stdout.String()), zap.Bool("stdout_truncated", stdout.truncated()),
		zap.String("stderr", stderr.String()), zap.Bool("stderr_truncated", stderr.truncated()),
	}
	if cmd.ProcessState != nil {
		fields = append(fields, zap.Int("exit_code", cmd.ProcessState.ExitCode()))
	}

	switch {
	case err == nil:
		a.log.Info("exec ok", fields...)
		return nil
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() && tctx.Err() == nil:
		// It exited 0 but left something behind holding its output.
		a.log.Warn("exec ok, but its output was still held open by a leftover process", fields...)
		return nil
	}
	a.log.Warn("exec failed", append(fields, zap.Error(err))...)
	if ctx.Err() != nil {
		return fmt.Errorf("exec %q: %w", argv[0], ctx.Err())
	}
	if tctx.Err() != nil {
		return fmt.Errorf("exec %q: timed out after %s; process group killed%s", argv[0], a.timeout, stderr.tailNote())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err := fmt.Errorf("exec %q: %s%s", argv[0], ee.ProcessState.String(), stderr.tailNote())
		// ExitCode is -1 for a signal: signals stay retryable.
		if code := ee.ProcessState.ExitCode(); code > 0 && a.permanent[code] {
			return Permanent(fmt.Errorf("%w (exit status %d is listed in permanent_exit_codes)", err, code))
		}
		return err
	}
	return fmt.Errorf("exec %q: %w%s", argv[0], err, stderr.tailNote())
}

// isNotRunnable reports whether a start error means the command cannot run
// at all (missing, not executable, bad working directory): retrying cannot help.
func isNotRunnable(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

// boundedBuffer keeps the first limit bytes written to it and the last
// execErrTail bytes, and counts the rest. exec feeds each one from a single
// goroutine, so it needs no lock.
type boundedBuffer struct {
	limit int
	head  []byte
	tail  []byte
	total int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	if room := b.limit - len(b.head); room > 0 {
		b.head = append(b.head, p[:min(room, len(p))]...)
	}
	b.tail = append(b.tail, p...)
	if len(b.tail) > execErrTail {
		b.tail = append(b.tail[:0], b.tail[len(b.tail)-execErrTail:]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) truncated() bool { return b.total > int64(len(b.head)) }

func (b *boundedBuffer) String() string {
	if b.truncated() {
		return string(b.head) + fmt.Sprintf("\n[… %d more bytes not shown]", b.total-int64(len(b.head)))
	}
	return string(b.head)
}

// tailNote is ": stderr: <last bytes>" or "" when stderr was empty.
func (b *boundedBuffer) tailNote() string {
	s := strings.TrimSpace(string(b.tail))
	if s == "" {
		return ""
	}
	if b.total > int64(len(b.tail)) {
		s = "…" + s
	}
	return ": stderr: " + s
}
