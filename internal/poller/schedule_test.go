package poller

import (
	"fmt"
	"testing"
	"time"
)

func TestScheduleSlots(t *testing.T) {
	const interval = time.Minute
	s := newSchedule("partner-0042", interval)
	if s.phase < 0 || s.phase >= interval {
		t.Fatalf("phase %v outside [0, %v)", s.phase, interval)
	}
	if again := newSchedule("partner-0042", interval); again != s {
		t.Fatalf("phase not stable: %v then %v", s.phase, again.phase)
	}
	prev := time.Date(2026, 12, 2, 15, 0, 7, 123, time.UTC)
	for i := 0; i < 100; i++ {
		next := s.after(prev)
		if off := time.Duration(next.UnixNano() % int64(interval)); off != s.phase {
			t.Fatalf("after(%v) = %v: off its slot (offset %v, phase %v)", prev, next, off, s.phase)
		}
		if d := next.Sub(prev); d < interval/2 || d >= interval*3/2 {
			t.Fatalf("after(%v) = %v: %v later, want [%v, %v)", prev, next, d, interval/2, interval*3/2)
		}
		prev = next.Add(time.Duration(i) * 97 * time.Millisecond) // scans take a while
	}
}

// TestScheduleSpread: the phases of many watches cover the interval evenly,
// so their scans do not queue for the pool at the same instant.
func TestScheduleSpread(t *testing.T) {
	const interval, n, buckets = time.Minute, 10000, 10
	var count [buckets]int
	for i := 0; i < n; i++ {
		s := newSchedule(fmt.Sprintf("partner-%d", i), interval)
		count[int(s.phase*buckets/interval)]++
	}
	for b, c := range count {
		if c < n/buckets*8/10 || c > n/buckets*12/10 {
			t.Errorf("bucket %d of the interval holds %d of %d phases: not spread (%v)", b, c, n, count)
		}
	}
}

func TestScheduleFirstScan(t *testing.T) {
	start := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, interval := range []time.Duration{200 * time.Millisecond, time.Minute, 24 * time.Hour} {
		spread := min(interval, firstScanSpread)
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := newSchedule(fmt.Sprintf("w%d", i), interval).first(start).Sub(start)
			if d < 0 || d >= spread {
				t.Fatalf("interval %v: first scan %v after start, want [0, %v)", interval, d, spread)
			}
			seen[d] = true
		}
		if len(seen) < 40 {
			t.Errorf("interval %v: 50 watches share %d first-scan instants", interval, len(seen))
		}
	}
}

func FuzzScheduleAfter(f *testing.F) {
	f.Add("w", int64(time.Minute), int64(1764687600123456789))
	f.Add("", int64(1), int64(-5))
	f.Fuzz(func(t *testing.T, name string, iv, prevNanos int64) {
		if iv <= 0 || iv > int64(365*24*time.Hour) || prevNanos > 1<<62 || prevNanos < -(1<<62) {
			return
		}
		s := newSchedule(name, time.Duration(iv))
		prev := time.Unix(0, prevNanos)
		next := s.after(prev)
		if d := next.Sub(prev); d < s.interval/2 || d >= s.interval*3/2+1 {
			t.Fatalf("after %v: %v later with interval %v", prev, d, s.interval)
		}
		if off := ((next.UnixNano()-int64(s.phase))%iv + iv) % iv; off != 0 {
			t.Fatalf("after %v = %v: not on a slot of phase %v", prev, next, s.phase)
		}
	})
}
