package metrics

import "time"

// Values of the result label of reloads_total.
const (
	ReloadOK    = "ok"
	ReloadError = "error"
)

// InitReloads creates both result series of reloads_total with zero values,
// so that a rate() over them works before the first reload.
func (m *Metrics) InitReloads() {
	if m == nil {
		return
	}
	m.ReloadsTotal.WithLabelValues(ReloadOK)
	m.ReloadsTotal.WithLabelValues(ReloadError)
}

// Reloaded counts a config reload: result ReloadOK or ReloadError.
func (m *Metrics) Reloaded(result string) {
	if m == nil {
		return
	}
	m.ReloadsTotal.WithLabelValues(result).Inc()
}

// SetWatchInterval records the scan interval the watch runs with.
func (m *Metrics) SetWatchInterval(watch string, interval time.Duration) {
	if m == nil {
		return
	}
	m.WatchInterval.WithLabelValues(watch).Set(interval.Seconds())
}
