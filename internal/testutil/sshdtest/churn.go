package sshdtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Churn runs 16 goroutines of n requests each (call(ctx, g, i)), each
// under the next of timeouts (-1: none), and counts the requests that
// completed and those cancelled by their deadline; any other error fails t.
func Churn(t *testing.T, n int, timeouts []time.Duration, call func(ctx context.Context, g, i int) error) (completed, cancelled int64) {
	t.Helper()
	var done, cut atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if d := timeouts[(g+i)%len(timeouts)]; d >= 0 {
					ctx, cancel = context.WithTimeout(ctx, d)
				}
				err := call(ctx, g, i)
				cancel()
				switch {
				case err == nil:
					done.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					cut.Add(1)
				default:
					t.Errorf("listing: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	return done.Load(), cut.Load()
}
