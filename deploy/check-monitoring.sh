#!/usr/bin/env bash
# Checks deploy/monitoring with promtool: the alert rules parse and lint
# (promtool check rules), and their unit tests pass (promtool test rules
# alerts_test.yml: every alert fires and stays quiet where it should).
# The Grafana dashboard (JSON, variables, metric names, PromQL syntax) is
# checked by `go test ./deploy/`.
#
# Without promtool: skips (exit 0) unless CI is set, then fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/monitoring"

if ! command -v promtool >/dev/null; then
  if [[ -n "${CI:-}" ]]; then
    echo "check-monitoring: FAIL: promtool not found and CI is set (install Debian's prometheus package)" >&2
    exit 1
  fi
  echo "check-monitoring: SKIP: promtool not found; install prometheus to check the alert rules" >&2
  exit 0
fi

echo "== promtool check rules alerts.yml"
promtool check rules alerts.yml
echo "== promtool test rules alerts_test.yml"
promtool test rules alerts_test.yml
