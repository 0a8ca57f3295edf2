package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// NewRegistry creates the registry /metrics serves: the Go runtime and
// process collectors (go_*, process_*) plus every sftpwatchd_ metric, with
// build_info set for version. No global registry is involved.
func NewRegistry(version string) (*prometheus.Registry, *metrics.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg, metrics.New(reg, version)
}
