// Package deploy_test checks the files under deploy/ against each other and
// against the shipped configs: the container image, the Kubernetes example,
// the alert rules and the Grafana dashboard. The systemd unit and the
// Prometheus rules are checked by the real tools in check-systemd.sh and
// check-monitoring.sh.
package deploy_test
