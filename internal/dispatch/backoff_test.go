package dispatch

import (
	"math"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

func TestBackoff(t *testing.T) {
	r := config.Retry{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	for _, tc := range []struct {
		name     string
		attempts int
		rnd      float64
		hint     time.Duration
		want     time.Duration
	}{
		{"first retry", 1, 0.5, 0, time.Second},
		{"doubles", 2, 0.5, 0, 2 * time.Second},
		{"doubles again", 4, 0.5, 0, 8 * time.Second},
		{"capped", 5, 0.5, 0, 10 * time.Second},
		{"huge attempts do not overflow", math.MaxInt, 0.5, 0, 10 * time.Second},
		{"jitter low -20%", 2, 0, 0, 1600 * time.Millisecond},
		{"jitter high stays below +20%", 2, 0.999999, 0, 2399999600 * time.Nanosecond},
		{"jitter never exceeds max", 5, 0.999, 0, 10 * time.Second},
		{"bad rand means no jitter", 2, math.NaN(), 0, 2 * time.Second},
		{"hint above backoff wins", 1, 0.5, 7 * time.Second, 7 * time.Second},
		{"hint above max wins", 1, 0.5, time.Minute, time.Minute},
		{"hint below backoff ignored", 3, 0.5, time.Millisecond, 4 * time.Second},
		{"absurd hint bounded", 1, 0.5, 1000 * time.Hour, maxRetryAfter},
		{"negative hint ignored", 1, 0.5, -time.Hour, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := backoff(r, tc.attempts, tc.rnd, tc.hint)
			if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("backoff(%d, %v, %v) = %v, want %v", tc.attempts, tc.rnd, tc.hint, got, tc.want)
			}
		})
	}
}

func TestBackoffHugeMax(t *testing.T) {
	r := config.Retry{MaxAttempts: 10, InitialBackoff: time.Hour, MaxBackoff: math.MaxInt64}
	for a := 1; a < 100; a++ {
		if got := backoff(r, a, 0.999, 0); got <= 0 {
			t.Fatalf("attempt %d: backoff %v overflowed", a, got)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	got := withDefaults(config.Retry{})
	want := config.Retry{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute}
	if got != want {
		t.Errorf("withDefaults(zero) = %+v, want %+v", got, want)
	}
	got = withDefaults(config.Retry{MaxAttempts: 2, InitialBackoff: time.Minute, MaxBackoff: time.Second})
	if got.MaxBackoff != time.Minute {
		t.Errorf("MaxBackoff below InitialBackoff not raised: %+v", got)
	}
	if d := storeBackoff(config.Retry{MaxAttempts: 1, InitialBackoff: time.Minute, MaxBackoff: time.Hour}, 1); d != maxStoreBackoff {
		t.Errorf("storeBackoff = %v, want bounded at %v", d, maxStoreBackoff)
	}
}
