package poller

import (
	"hash/fnv"
	"time"
)

// firstScanSpread bounds how long a watch's first scan after a start or a
// reload waits: first scans are spread over min(interval, firstScanSpread),
// so ten thousand watches do not all list at the same instant, and a watch
// with a long interval still scans within seconds of a start.
const firstScanSpread = 10 * time.Second

// schedule places a watch's scans on fixed slots of the wall clock: the
// instants phase + k·interval since the Unix epoch. The phase comes from the
// watch's name, so it is the same across restarts and reloads, watches of one
// daemon are spread over the interval instead of queueing for the pool at
// once, and two daemons with different watches do not align. Pure: no clock
// of its own, no I/O.
type schedule struct {
	interval time.Duration
	phase    time.Duration // in [0, interval)
}

func newSchedule(name string, interval time.Duration) schedule {
	if interval <= 0 {
		return schedule{}
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return schedule{interval: interval, phase: time.Duration(h.Sum64() % uint64(interval))}
}

// first is when the first scan after start runs: the same fraction of
// min(interval, firstScanSpread) as the phase is of the interval.
func (s schedule) first(start time.Time) time.Time {
	if s.interval <= 0 {
		return start
	}
	spread := min(s.interval, firstScanSpread)
	offset := time.Duration(float64(spread) * (float64(s.phase) / float64(s.interval)))
	return start.Add(offset)
}

// after is when the scan after one that started at prev runs: the first slot
// at least half an interval after prev. A scan that overran its slot is
// followed by the next at once (the slot is in the past), never by a
// pile-up; a scan run out of turn (the first one, a manual scan) does not
// move the slots.
func (s schedule) after(prev time.Time) time.Time {
	if s.interval <= 0 {
		return prev
	}
	earliest := prev.Add(s.interval / 2).UnixNano()
	iv, ph := int64(s.interval), int64(s.phase)
	k := (earliest - ph) / iv
	if k*iv+ph < earliest {
		k++
	}
	// Negative times (before 1970) round toward zero above; step until the
	// slot is not before earliest.
	for k*iv+ph < earliest {
		k++
	}
	return time.Unix(0, k*iv+ph)
}
