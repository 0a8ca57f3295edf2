package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// sample is the repeated measurement of one tool on one case.
type sample struct {
	tool  string
	runs  []time.Duration
	note  string
	err   error
	bytes int64 // payload, for throughput
}

// cells are the "runs" and comparison columns of a table row: s against
// ours (the first sample, whose median is oursMedian), with ratioFmt for
// the ratio of the medians.
func (s *sample) cells(ours *sample, oursMedian time.Duration, ratioFmt string) (ratio, runs string) {
	ratio = "–"
	switch {
	case s.err != nil:
		ratio = "failed: " + firstLine(s.err.Error())
	case s == ours:
		ratio = "1×"
	case oursMedian > 0:
		ratio = fmt.Sprintf(ratioFmt, s.median().Seconds()/oursMedian.Seconds())
	}
	runs = s.runsText()
	if s.note != "" {
		runs += " (" + s.note + ")"
	}
	return ratio, runs
}

// skip reports whether run should not measure s: it failed, it was too
// slow to repeat, or -tools leaves it out.
func (s *sample) skip(e *env, run int) bool {
	return s.err != nil || (run > 0 && s.note != "") || !e.wants(s.tool)
}

// record adds run's time d to s, or its error; a first run slower than
// slow is not repeated.
func (s *sample) record(e *env, run, runs int, slow, d time.Duration, err error) {
	if err != nil {
		s.err = err
		fmt.Printf("  %s: %v\n", s.tool, err)
		return
	}
	s.runs = append(s.runs, d)
	if d > slow && runs > 1 {
		s.note = fmt.Sprintf("1 run only (> %s)", slow)
	}
	if e.verbose {
		fmt.Printf("  %-45s run %d: %s\n", s.tool, run+1, secs(d))
	}
}

func (s *sample) median() time.Duration {
	if len(s.runs) == 0 {
		return 0
	}
	r := append([]time.Duration(nil), s.runs...)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

func (s *sample) runsText() string {
	var parts []string
	for _, d := range s.runs {
		parts = append(parts, secs(d))
	}
	return strings.Join(parts, ", ")
}

func secs(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func mibps(bytes int64, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB/s", float64(bytes)/(1<<20)/d.Seconds())
}

// report accumulates the markdown of RESULTS.md.
type report struct{ b strings.Builder }

func (r *report) printf(format string, a ...any) {
	fmt.Fprintf(&r.b, format, a...)
	fmt.Printf(format, a...) // progress on stdout too
}
