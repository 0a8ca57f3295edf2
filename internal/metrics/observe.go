package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the result label of scans_total, actions_total and
// sftp_dials_total (SPEC section 5).
const (
	ScanOK      = "ok"
	ScanPartial = "partial"
	ScanError   = "error"

	ActionOK     = "ok"
	ActionRetry  = "retry"
	ActionFailed = "failed"

	DialOK    = "ok"
	DialError = "error"
)

// The helpers below are nil-safe: every one is a no-op on a nil *Metrics, so
// callers need no `if m != nil` of their own. They name the moment something
// happens rather than the collector it touches, so a caller cannot forget a
// companion series (a successful scan also moves the last-success timestamp).

// InitWatch creates the series of a watch with their zero values, so that
// rate() and increase() see a series from the watch's first scrape instead of
// missing the first increment (and alerts over result="error" have a series
// to compare against). Call it when a watch is added.
func (m *Metrics) InitWatch(watch string) {
	if m == nil {
		return
	}
	for _, r := range []string{ScanOK, ScanPartial, ScanError} {
		m.ScansTotal.WithLabelValues(watch, r)
	}
	for _, t := range []string{"create", "modify", "delete", "rename"} {
		m.EventsTotal.WithLabelValues(watch, t)
	}
	m.EventsPending.WithLabelValues(watch)
	m.DeadLetters.WithLabelValues(watch)
	m.DownloadBytesTotal.WithLabelValues(watch)
	m.CommitErrorsTotal.WithLabelValues(watch)
	m.EntriesSettling.WithLabelValues(watch)
}

// InitAction creates the result series of one action type of a watch with
// zero values (see InitWatch).
func (m *Metrics) InitAction(watch, action string) {
	if m == nil {
		return
	}
	for _, r := range []string{ActionOK, ActionRetry, ActionFailed} {
		m.ActionsTotal.WithLabelValues(watch, action, r)
	}
}

// InitHost creates the series of an SFTP host with zero values.
func (m *Metrics) InitHost(host string) {
	if m == nil {
		return
	}
	m.SFTPConnections.WithLabelValues(host)
	m.SFTPDialsTotal.WithLabelValues(host, DialOK)
	m.SFTPDialsTotal.WithLabelValues(host, DialError)
}

// ForgetWatch deletes every series labelled with the watch, for a watch that
// a reload removed, so its last values do not linger on /metrics forever.
func (m *Metrics) ForgetWatch(watch string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"watch": watch}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.ScansTotal, m.ScanDuration, m.WatchEntries, m.WatchBytes, m.EventsTotal,
		m.EventsPending, m.ActionsTotal, m.ActionDuration, m.DeadLetters,
		m.LastScanSuccess, m.LastEvent, m.DownloadBytesTotal, m.CommitErrorsTotal,
		m.WatchInterval, m.EntriesSettling,
	} {
		v.DeletePartialMatch(l)
	}
}

// ForgetHost deletes every series labelled with the host.
func (m *Metrics) ForgetHost(host string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"host": host}
	m.SFTPConnections.DeletePartialMatch(l)
	m.SFTPDialsTotal.DeletePartialMatch(l)
}

// ScanFinished counts a finished scan with its result (ScanOK, ScanPartial or
// ScanError) and duration; ok and partial scans also set the last-success
// timestamp to at.
func (m *Metrics) ScanFinished(watch, result string, took time.Duration, at time.Time) {
	if m == nil {
		return
	}
	m.ScansTotal.WithLabelValues(watch, result).Inc()
	m.ScanDuration.WithLabelValues(watch).Observe(took.Seconds())
	if result == ScanOK || result == ScanPartial {
		m.LastScanSuccess.WithLabelValues(watch).Set(unixSeconds(at))
	}
}

// CommitFailed counts a scan whose changes could not be committed.
func (m *Metrics) CommitFailed(watch string) {
	if m == nil {
		return
	}
	m.CommitErrorsTotal.WithLabelValues(watch).Inc()
}

// SetSnapshotSize sets the entries and total bytes a watch tracks.
func (m *Metrics) SetSnapshotSize(watch string, entries int, bytes int64) {
	if m == nil {
		return
	}
	m.WatchEntries.WithLabelValues(watch).Set(float64(entries))
	m.WatchBytes.WithLabelValues(watch).Set(float64(bytes))
}

// EventsCommitted counts n events of one type committed at at and moves the
// last-event timestamp. n <= 0 is ignored.
func (m *Metrics) EventsCommitted(watch, eventType string, n int, at time.Time) {
	if m == nil || n <= 0 {
		return
	}
	m.EventsTotal.WithLabelValues(watch, eventType).Add(float64(n))
	m.LastEvent.WithLabelValues(watch).Set(unixSeconds(at))
}

// SetSettling sets the number of entries of the watch held back until they
// settle.
func (m *Metrics) SetSettling(watch string, n int) {
	if m == nil {
		return
	}
	m.EntriesSettling.WithLabelValues(watch).Set(float64(n))
}

// SetEventsPending sets the number of events of the watch in the outbox.
func (m *Metrics) SetEventsPending(watch string, n int) {
	if m == nil {
		return
	}
	m.EventsPending.WithLabelValues(watch).Set(float64(n))
}

// ActionAttempt counts one attempt of an action step with its result
// (ActionOK, ActionRetry or ActionFailed) and duration.
func (m *Metrics) ActionAttempt(watch, action, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.ActionsTotal.WithLabelValues(watch, action, result).Inc()
	m.ActionDuration.WithLabelValues(watch, action).Observe(took.Seconds())
}

// SetDeadLetters sets the number of events of the watch in the dead-letter
// store.
func (m *Metrics) SetDeadLetters(watch string, n int) {
	if m == nil {
		return
	}
	m.DeadLetters.WithLabelValues(watch).Set(float64(n))
}

// DownloadedBytes adds n bytes written by a download action. n <= 0 is
// ignored (a counter must not go down).
func (m *Metrics) DownloadedBytes(watch string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.DownloadBytesTotal.WithLabelValues(watch).Add(float64(n))
}

// Dialed counts one SSH dial to host: an error result when err is non-nil.
func (m *Metrics) Dialed(host string, err error) {
	if m == nil {
		return
	}
	r := DialOK
	if err != nil {
		r = DialError
	}
	m.SFTPDialsTotal.WithLabelValues(host, r).Inc()
}

// ConnectionOpened and ConnectionClosed move the open-connection gauge of host.
func (m *Metrics) ConnectionOpened(host string) {
	if m == nil {
		return
	}
	m.SFTPConnections.WithLabelValues(host).Inc()
}

// ConnectionClosed: see ConnectionOpened.
func (m *Metrics) ConnectionClosed(host string) {
	if m == nil {
		return
	}
	m.SFTPConnections.WithLabelValues(host).Dec()
}

// SetConnections sets the open-connection gauge of host to n.
func (m *Metrics) SetConnections(host string, n int) {
	if m == nil {
		return
	}
	m.SFTPConnections.WithLabelValues(host).Set(float64(n))
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// SFTPConnectionsOpen sets the number of SFTP connections open to host
// (sftpconn.Observer).
func (m *Metrics) SFTPConnectionsOpen(host string, n int) {
	if m == nil {
		return
	}
	m.SFTPConnections.WithLabelValues(host).Set(float64(n))
}

// SFTPDial counts one dial of host with its result, "ok" or "error"
// (sftpconn.Observer).
func (m *Metrics) SFTPDial(host, result string) {
	if m == nil {
		return
	}
	m.SFTPDialsTotal.WithLabelValues(host, result).Inc()
}
