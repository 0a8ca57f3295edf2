// Package httpapi serves sftpwatchd's HTTP endpoints (SPEC section 5):
// /metrics in the Prometheus text format, /healthz (200 while the process
// serves) and /readyz (200 when every watch finished a successful scan
// recently, else 503 naming the watches that did not).
//
// It owns the HTTP server's lifecycle, the process-wide Prometheus registry
// (NewRegistry, with the Go and process collectors) and the readiness rule
// (Tracker). It must not know about SFTP, scanning, state or actions: the
// daemon tells the Tracker which watches exist and when their scans finish.
package httpapi
