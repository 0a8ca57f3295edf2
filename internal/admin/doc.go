// Package admin is the transport of sftpwatchd's admin surface (SPEC
// section 7): the objects `status`, `pending` and `deadletters` print and
// /api/v1/ serves, the operations behind the admin commands (Ops), an HTTP
// handler serving any Ops (on the daemon's unix socket, and the read-only
// part, plus token-guarded mutations, on http.listen), and a client that
// is an Ops talking to a running daemon over its socket.
//
// The package does nothing itself: the daemon implements Ops over its
// running watches and the state store, and the same implementation runs
// over the state dir alone when no daemon runs.
package admin
