package dispatch

import (
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

// Defaults for a zero Retry policy (they match the SPEC's example config).
const (
	defaultMaxAttempts    = 10
	defaultInitialBackoff = time.Second
	defaultMaxBackoff     = 5 * time.Minute

	// maxRetryAfter bounds a Retry-After hint: an action's hint longer than the
	// policy's backoff is honoured, but a hostile or broken peer asking for a
	// year must not stall a path that long.
	maxRetryAfter = 24 * time.Hour

	// maxStoreBackoff bounds the wait before a failed store write or read is
	// tried again, whatever the action retry policy says.
	maxStoreBackoff = 30 * time.Second
)

// withDefaults fills the zero fields of r and makes MaxBackoff ≥ InitialBackoff.
func withDefaults(r config.Retry) config.Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = defaultMaxAttempts
	}
	if r.InitialBackoff <= 0 {
		r.InitialBackoff = defaultInitialBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = defaultMaxBackoff
	}
	if r.MaxBackoff < r.InitialBackoff {
		r.MaxBackoff = r.InitialBackoff
	}
	return r
}

// backoff returns the wait before the next attempt after `attempts` failed
// ones (attempts ≥ 1): min(MaxBackoff, InitialBackoff·2^(attempts-1)), then
// jittered by ±20% from rnd ∈ [0,1) (0.5 means no jitter) and capped at
// MaxBackoff again. hint, when positive, is a lower bound (an action's
// RetryAfter), itself bounded by maxRetryAfter. r must have its defaults set.
func backoff(r config.Retry, attempts int, rnd float64, hint time.Duration) time.Duration {
	d := r.InitialBackoff
	for i := 1; i < attempts && d < r.MaxBackoff; i++ {
		if d > r.MaxBackoff/2 {
			d = r.MaxBackoff
			break
		}
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	if rnd < 0 || rnd >= 1 || rnd != rnd { // out of contract or NaN: no jitter
		rnd = 0.5
	}
	if f := float64(d) * (0.8 + 0.4*rnd); f < float64(r.MaxBackoff) {
		d = time.Duration(f)
	} else {
		d = r.MaxBackoff // also keeps the float→int conversion from overflowing
	}
	if hint > 0 {
		d = max(d, min(hint, maxRetryAfter))
	}
	return d
}

// storeBackoff is the wait before the n-th retry (n ≥ 1) of a failed store
// operation: the retry policy's backoff without jitter, at most maxStoreBackoff.
func storeBackoff(r config.Retry, n int) time.Duration {
	return min(backoff(r, n, 0.5, 0), maxStoreBackoff)
}
