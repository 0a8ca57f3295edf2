package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

const ns = "sftpwatchd"

// Metrics holds the collectors. Fields are exported so that the code that
// observes a thing can count it exactly where it happens.
type Metrics struct {
	ScansTotal         *prometheus.CounterVec   // watch, result
	ScanDuration       *prometheus.HistogramVec // watch
	WatchEntries       *prometheus.GaugeVec     // watch
	WatchBytes         *prometheus.GaugeVec     // watch
	EventsTotal        *prometheus.CounterVec   // watch, type
	EventsPending      *prometheus.GaugeVec     // watch
	ActionsTotal       *prometheus.CounterVec   // watch, action, result
	ActionDuration     *prometheus.HistogramVec // watch, action
	DeadLetters        *prometheus.GaugeVec     // watch
	LastScanSuccess    *prometheus.GaugeVec     // watch
	LastEvent          *prometheus.GaugeVec     // watch
	DownloadBytesTotal *prometheus.CounterVec   // watch
	SFTPConnections    *prometheus.GaugeVec     // host
	SFTPDialsTotal     *prometheus.CounterVec   // host, result
	BuildInfo          *prometheus.GaugeVec     // version, goversion
	CommitErrorsTotal  *prometheus.CounterVec   // watch
	ReloadsTotal       *prometheus.CounterVec   // result
	WatchInterval      *prometheus.GaugeVec     // watch
	EntriesSettling    *prometheus.GaugeVec     // watch
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		ScansTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "scans_total",
			Help: "Scans of a watch by result: ok, partial (some directory could not be listed) or error."}, []string{"watch", "result"}),
		ScanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "scan_duration_seconds",
			Help:    "Time a scan of a watch took, from the first directory read to the commit.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12)}, []string{"watch"}),
		WatchEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "watch_entries",
			Help: "Entries the watch tracks in its stored snapshot."}, []string{"watch"}),
		WatchBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "watch_bytes",
			Help: "Sum of the sizes of the entries the watch tracks."}, []string{"watch"}),
		EventsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
			Help: "Events committed to the outbox, by type."}, []string{"watch", "type"}),
		EventsPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "events_pending",
			Help: "Events in the outbox that have not finished their chain of actions."}, []string{"watch"}),
		ActionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "actions_total",
			Help: "Action step attempts by result: ok, retry (failed, will be retried), failed (gave up) or superseded (a later change of the path overtook the event; its remaining steps were skipped)."}, []string{"watch", "action", "result"}),
		ActionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "action_duration_seconds",
			Help:    "Time one attempt of an action step took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 11)}, []string{"watch", "action"}),
		DeadLetters: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "dead_letters",
			Help: "Events in the dead-letter store."}, []string{"watch"}),
		LastScanSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_scan_success_timestamp_seconds",
			Help: "Unix time of the last scan that ended ok or partial."}, []string{"watch"}),
		LastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_event_timestamp_seconds",
			Help: "Unix time of the last event committed."}, []string{"watch"}),
		DownloadBytesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "download_bytes_total",
			Help: "Bytes written to local files by download actions."}, []string{"watch"}),
		SFTPConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "sftp_connections",
			Help: "SSH connections currently open to the host."}, []string{"host"}),
		SFTPDialsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "sftp_dials_total",
			Help: "SSH dials to the host by result."}, []string{"host", "result"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
			Help: "Always 1; labels carry the version and the Go version."}, []string{"version", "goversion"}),
		CommitErrorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "commit_errors_total",
			Help: "Scans whose changes could not be committed to the state file (disk full, I/O error); such a scan emits nothing and counts as an error scan."}, []string{"watch"}),
		EntriesSettling: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "entries_settling",
			Help: "Entries seen but held back until they settle (settle, min_age)."}, []string{"watch"}),
	}
	m.ReloadsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reloads_total",
		Help: "Config reloads (SIGHUP) by result: ok (the new config runs) or error (it was invalid or a watch could not be built; the old one kept running)."}, []string{"result"})
	m.WatchInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "watch_interval_seconds",
		Help: "The scan interval configured for the watch (for alerts relative to it)."}, []string{"watch"})
	reg.MustRegister(m.ReloadsTotal, m.WatchInterval)
	reg.MustRegister(m.ScansTotal, m.ScanDuration, m.WatchEntries, m.WatchBytes, m.EventsTotal,
		m.EventsPending, m.ActionsTotal, m.ActionDuration, m.DeadLetters, m.LastScanSuccess,
		m.LastEvent, m.DownloadBytesTotal, m.SFTPConnections, m.SFTPDialsTotal, m.BuildInfo,
		m.CommitErrorsTotal, m.EntriesSettling)
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	return m
}
