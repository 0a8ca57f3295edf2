# sftpwatchd — see README.md.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN      := bin/sftpwatchd
# A count, not a duration: a time-boxed -fuzztime can end a healthy run with
# "context deadline exceeded" when the deadline lands mid-input.
FUZZTIME ?= 200000x

.PHONY: all build test chaos fuzz lint bench bench-go bench-scale demo install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sftpwatchd

# go vet + the race-enabled suite (unit, integration against a real sshd the
# tests start themselves, black-box tests of the built binary) + short fuzzing.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...
	bash deploy/check-systemd.sh
	bash deploy/check-monitoring.sh
	$(MAKE) fuzz

# The full kill -9 loop (make test runs it with 30 kills): 200 random SIGKILLs
# of the daemon under a writer that creates, appends, replaces, renames and
# deletes ~300 paths; download + webhook; lost 0, invented 0 (~70 s).
CHAOS_KILLS ?= 200
chaos:
	bash -o pipefail -c "SFTPWATCHD_CHAOS_KILLS=$(CHAOS_KILLS) $(GO) test -count=1 -v -timeout 30m -run '^TestChaosKillLoop\$$' ./cmd/sftpwatchd/ | grep -E '^(---|ok|FAIL|PASS)|chaos_e2e_test'"

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# The comparison against pysftp-style walk, rclone and OpenSSH through a real
# sshd with and without 20 ms of added RTT; writes bench/RESULTS.md (~20 min).
# BENCHFLAGS=-large adds the 100k-file tree, 1 GiB file, 10,000 small files
# and 1,000,000 tracked entries. See bench/README.md.
BENCHFLAGS ?=
bench: build
	$(GO) run ./bench -bin $(BIN) $(BENCHFLAGS)

# Many watches on one daemon: 1,000 and 10,000 watches of 100 files on one
# sshd, interval 60 s (trees built once under SCALEWORK); CPU, RSS,
# goroutines, connections, scan spread, detection latency. Writes
# bench/RESULTS-scale.md (~15 min).
SCALEFLAGS ?=
SCALEWORK  ?= /tmp/sftpwatchd-bench-scale
bench-scale: build
	$(GO) run ./bench -bin $(BIN) -only scale -rtt 0 -work $(SCALEWORK) -runs 1 -out bench/RESULTS-scale.md $(SCALEFLAGS)

# The Go micro-benchmarks of the packages.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# An embedded SFTP server on 127.0.0.1 serving a new temp dir, watched with a
# log action: drop files into the printed directory and watch the events.
demo: build
	$(BIN) demo

PREFIX  ?= /usr/local
DESTDIR ?=
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sftpwatchd
	install -D -m 0644 deploy/systemd/sftpwatchd.service $(DESTDIR)/etc/systemd/system/sftpwatchd.service
	install -D -m 0644 deploy/systemd/sftpwatchd.sysusers $(DESTDIR)/usr/lib/sysusers.d/sftpwatchd.conf
	test -e $(DESTDIR)/etc/sftpwatchd/config.yaml || install -D -m 0640 configs/sftpwatchd.yaml $(DESTDIR)/etc/sftpwatchd/config.yaml
	test -e $(DESTDIR)/etc/sftpwatchd/env || install -D -m 0600 deploy/systemd/sftpwatchd.env $(DESTDIR)/etc/sftpwatchd/env

clean:
	rm -rf bin
