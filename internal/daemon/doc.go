// Package daemon wires the parts of a running sftpwatchd together: one SFTP
// pool per host, and per watch a poller (scan → diff → commit) and a
// dispatcher (outbox → actions). It owns their lifecycle: start, reload on a
// new config (only what changed is restarted; state lives in the store, so a
// restarted watch resumes where it was), and graceful shutdown. It knows no
// flags, signals or exit codes (cmd/sftpwatchd does).
package daemon
