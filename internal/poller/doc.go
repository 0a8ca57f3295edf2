// Package poller runs one watch's scan loop: on every tick it lists the
// remote tree through a Lister, applies the watch's filters, compares the
// listing with the stored snapshot (internal/diff) and commits the snapshot
// changes and the resulting events in one transaction (Store.Commit) before
// anyone may act on them. It does not know what actions do with events; it
// only tells a Notifier that new ones were committed.
//
// It does not know the state backend either: Store (store.go) is declared
// here in the poller's own types, and a baseline goes to Commit as a stream
// (Batch.Stream) that the backend writes as it must.
package poller
