package admin

import (
	"context"
	"errors"
	"io"
	"time"
)

// SocketName is the admin socket's name in the state dir.
const SocketName = "admin.sock"

// Errors an Ops returns (wrapped) and the transport keeps: the CLI exits 2
// on ErrUsage and ErrNotFound, 1 on ErrNotRunning.
var (
	// ErrUsage: the request names something that does not exist (a
	// watch) or is malformed.
	ErrUsage = errors.New("bad request")
	// ErrNotFound: no event with that ID.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the operation needs a running daemon.
	ErrNotRunning = errors.New("no daemon runs")
)

// Ops are the admin operations, in the terms of the commands that use
// them. watch "" means every watch.
type Ops interface {
	Status(ctx context.Context, watch string) (Status, error)
	Pending(ctx context.Context, watch string) ([]Pending, error)
	DeadLetters(ctx context.Context, watch string) ([]DeadLetter, error)
	// Retry puts the selected dead letters back in the outbox with their
	// IDs, at the step that failed or, fromStart, the first; it returns the
	// IDs retried.
	Retry(ctx context.Context, sel Selection, fromStart bool) ([]string, error)
	// Discard drops the selected dead letters and returns their IDs.
	Discard(ctx context.Context, sel Selection) ([]string, error)
	// Scan makes the running daemon scan watch now.
	Scan(ctx context.Context, watch string) error
	// Reset forgets watch's snapshot: its next scan is a first scan,
	// silent or, with emit, creates.
	Reset(ctx context.Context, watch string, emit bool) error
	// Prune removes the state of watches not in keep (nor running) and
	// returns their names.
	Prune(ctx context.Context, keep []string) ([]string, error)
	// Backup writes a consistent copy of the state file to w.
	Backup(ctx context.Context, w io.Writer) error
}

// Selection names dead letters: IDs, or All (of Watch, or of every watch).
type Selection struct {
	IDs   []string `json:"ids,omitempty"`
	All   bool     `json:"all,omitempty"`
	Watch string   `json:"watch,omitempty"`
}

// Status is the status of every (selected) watch and host. Running is set
// when a daemon answered; otherwise the values are what the state holds.
type Status struct {
	Running bool
	Watches []WatchStatus
	Hosts   []HostStatus
}

// WatchStatus is a status line of a watch (SPEC section 7 keys).
type WatchStatus struct {
	Watch       string     `json:"watch"`
	Host        string     `json:"host"`
	Path        string     `json:"path"`
	LastScan    *LastScan  `json:"last_scan"`
	NextScan    *time.Time `json:"next_scan"`
	Settling    int        `json:"settling"`
	Pending     int        `json:"pending"`
	DeadLetters int        `json:"dead_letters"`
	Owner       string     `json:"owner"`
}

// LastScan is what the last scan of a watch did.
type LastScan struct {
	Time            time.Time `json:"time"`
	Result          string    `json:"result"`
	DurationSeconds float64   `json:"duration_seconds"`
	Entries         int       `json:"entries"`
	Error           string    `json:"error"`
}

// HostStatus is a status line of a host.
type HostStatus struct {
	Host          string `json:"host"`
	Connections   int    `json:"connections"`
	LastDialError string `json:"last_dial_error"`
}

// EventLine is what pending events and dead letters have in common.
type EventLine struct {
	ID      string `json:"id"`
	Watch   string `json:"watch"`
	Type    string `json:"type"`
	Path    string `json:"path"`
	RelPath string `json:"rel_path"`
	// Step is the action type the event stands at ("" past the chain).
	Step        string     `json:"step"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt"`
}

// Pending is an event of the outbox.
type Pending struct {
	EventLine
	LastError string `json:"last_error"`
}

// DeadLetter is an event that gave up.
type DeadLetter struct {
	EventLine
	Reason string `json:"reason"`
}
