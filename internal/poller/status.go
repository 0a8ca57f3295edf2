package poller

import "time"

// Status is what a running poller knows about its watch, for `status`.
type Status struct {
	// LastScan is the last finished scan; nil before the first.
	LastScan *ScanSummary
	// NextScan is when Run starts the next scan; zero when Run does not
	// run (or has not scheduled one yet).
	NextScan time.Time
	// Settling counts the entries held back until they settle.
	Settling int
}

// Status returns the poller's status.
func (p *Poller) Status() Status {
	var st Status
	p.statusMu.Lock()
	if p.lastScan != nil {
		ls := *p.lastScan
		st.LastScan = &ls
	}
	st.NextScan = p.nextScan
	p.statusMu.Unlock()
	p.mu.Lock()
	st.Settling = len(p.pending)
	p.mu.Unlock()
	return st
}

// noteScan records a finished scan for Status and moves the settling gauge.
func (p *Poller) noteScan(result string, start, end time.Time, entries int, err error) {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	sum := &ScanSummary{Time: end.UTC(), Result: result, Duration: end.Sub(start), Entries: entries}
	if entries < 0 {
		sum.Entries = 0
		if p.lastScan != nil {
			sum.Entries = p.lastScan.Entries
		}
	}
	if err != nil {
		sum.Error = err.Error()
	}
	p.lastScan = sum
	if result != ResultError {
		// p.mu is held by the caller of a successful finish.
		p.opt.Metrics.SetSettling(p.opt.Watch.Name, len(p.pending))
	}
}

// ScanNow makes Run start a scan at once (or right after the one in
// progress). It never blocks; requests coalesce.
func (p *Poller) ScanNow() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Reset runs reset (which changes the watch's stored state, e.g.
// the state's ResetWatch) between two scans and makes the next scan load
// the state again: a running watch takes the reset at its next scan.
func (p *Poller) Reset(reset func() error) error {
	p.scanMu.Lock()
	defer p.scanMu.Unlock()
	if err := reset(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loaded = false
	p.self, p.selfDone = nil, nil
	return nil
}
