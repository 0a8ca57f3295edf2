// Command bench measures sftpwatchd against the tools users would otherwise
// run (a pysftp-style walk over paramiko, rclone, OpenSSH sftp/scp/find)
// on the same trees, in the same run, through a real OpenSSH sshd on
// 127.0.0.1 — on plain loopback and behind a latency relay that adds a
// fixed round-trip time. It writes the tables to bench/RESULTS.md.
//
// It owns only the benchmark harness: it drives the built binary and the
// other tools as separate processes and reads the daemon from the outside
// (/proc, /metrics, the state file). It must not import the product's
// internal packages, so that what it measures is what users run.
//
// See bench/README.md for how to run it and what each figure means.
package main
