// Package state is sftpwatchd's durable memory, kept in one bbolt file
// (state.db) in the state directory. It owns, per watch:
//
//   - the snapshot: one key per remote entry (rel_path → compact binary
//     Entry), so a commit costs what changed, not the size of the tree;
//   - pending entries that have not settled yet;
//   - the outbox: events committed together with the snapshot changes that
//     produced them, each with the index of its next action step and the
//     failed attempts of that step, in commit order;
//   - dead letters: events that ran out of attempts;
//   - self-removed markers: paths the daemon moved or deleted itself, so
//     the next scan does not report them as deleted;
//   - the event ID sequence, which never reuses a number;
//
// and the process lock: a state directory belongs to one process at a time.
//
// The rule the rest of the daemon relies on is "nothing runs before it is
// on disk": Commit writes a scan's snapshot changes, pending changes,
// consumed markers and new events in one fsynced transaction, and actions
// read only what Outbox returns.
//
// Layout of state.db:
//
//	meta/                    magic "sftpwatchd-state", format (uint32 BE)
//	watches/<watch>/         "initialized" key once the first scan committed;
//	                         "filter" (what decided coverage), "origin" (host
//	                         and path), "baseline_pending" (JSON list of dirs),
//	                         "emit_next_first_scan" (state reset --emit),
//	                         "last_scan" (JSON ScanSummary, for status)
//	    snap/    rel_path → entry   (see codec.go)
//	    pending/ rel_path → since + entry
//	    self/    rel_path → ""
//	    outbox/  seq (uint64 BE) → JSON record (step, attempts, event)
//	    dead/    seq (uint64 BE) → JSON record (+ reason, time)
//	    seq/     (bucket sequence only: the event ID counter)
//
// The package must not know about SFTP, HTTP, or what actions do. bbolt
// types stay out of its exported API so that another backend (PostgreSQL)
// can implement the same consumer interfaces (poller.Store, dispatch.Store,
// daemon.AdminStore); what every backend must keep is checked by one
// conformance suite, internal/state/statetest, run here against bbolt
// (conformance_test.go). A large baseline comes to Commit as a stream
// (Batch.Stream) and is written in parts here (baseline.go).
package state
