package poller

import "time"

// FirstScanDelay is how long after Run starts a watch named name with
// interval runs its first scan.
func FirstScanDelay(name string, interval time.Duration) time.Duration {
	t := time.Unix(0, 0)
	return newSchedule(name, interval).first(t).Sub(t)
}
