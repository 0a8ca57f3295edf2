// Package poller runs one watch's scan loop: on every tick it lists the
// remote tree through a Lister, applies the watch's filters, compares the
// listing with the stored snapshot (internal/diff) and commits the snapshot
// changes and the resulting events in one transaction (Store.Commit) before
// anyone may act on them. It does not know what actions do with events; it
// only tells a Notifier that new ones were committed.
package poller
