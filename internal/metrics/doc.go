// Package metrics defines every Prometheus metric of SPEC section 5. A
// *Metrics is created once per process with New over a registry the caller
// owns (no global registry) and passed to the parts that count things. All
// methods are safe on a nil *Metrics, so tests and one-shot commands may pass
// nil.
package metrics
