// Package diff turns two views of a remote tree into events.
//
// It owns the snapshot model (Entry, Snapshot, Pending), the comparison of a
// new scan with the committed snapshot (Compare), stability (settle and
// min_age), coalescing of changes that happen before an entry settles, the
// "no false deletes" rule for directories whose listing failed, the silent
// removal of entries the daemon removed itself, and rename pairing.
//
// The package is pure: no I/O, no clock (the caller passes "now"), no
// goroutines, no logging. It must not know about SFTP, the state store, the
// poller's schedule or what actions do with the events. Everything it decides
// is returned as data (Result) for the caller to commit in one transaction.
package diff
