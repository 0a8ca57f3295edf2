// Package snapshot holds a watch's stored snapshot in memory, compactly.
//
// A snapshot of a large watch has millions of entries and lives for the
// daemon's lifetime. As a map[string]diff.Entry it costs about 180 bytes an
// entry (key header and bytes, a 40-byte value, map slots at their load
// factor) and is full of pointers the garbage collector scans on every
// cycle. A Tree keeps, per directory, the names back to back in one byte
// slice and the attributes in one pointer-free array, sorted by name: about
// 30 bytes plus the name's length an entry, and nothing for the collector to
// scan. Link targets (of symbolic links and followed links), which few
// entries have, live in a side map.
//
// The package is pure: no I/O, no clock. It knows diff's Entry and nothing
// about scans, state or the remote side.
package snapshot
