package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// progress is a one-line, self-overwriting status on stderr, drawn only
// when stderr is a terminal. It is also the writer the command's logger
// writes to: a log line clears the status line first and redraws it after,
// so that log lines never break it (and a status never sits in the middle
// of a log line). Without a terminal it draws nothing and passes writes
// through unchanged.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	line    string // what is drawn ("" = nothing)
}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\033[K"

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, enabled: ok && term.IsTerminal(int(f.Fd()))}
}

// printf replaces the status line.
func (p *progress) printf(format string, args ...any) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = fmt.Sprintf(format, args...)
	fmt.Fprint(p.w, clearLine+p.line)
}

// done erases the status line (before the command prints a result line).
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enabled && p.line != "" {
		fmt.Fprint(p.w, clearLine)
		p.line = ""
	}
}

// Write writes b (whole log lines) below the status line: the line is
// erased, b written, and the line drawn again.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled || p.line == "" {
		return p.w.Write(b)
	}
	if _, err := io.WriteString(p.w, clearLine); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	if err == nil {
		_, err = io.WriteString(p.w, p.line)
	}
	return n, err
}

// Sync lets zap flush through the progress writer.
func (p *progress) Sync() error {
	if s, ok := p.w.(interface{ Sync() error }); ok {
		_ = s.Sync() // a terminal cannot be synced; nothing lost
	}
	return nil
}
