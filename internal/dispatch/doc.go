// Package dispatch moves committed events from a watch's outbox through the
// watch's chain of actions: it owns ordering (events of one path strictly in
// commit order, different paths concurrently up to a bound), per-step progress
// (a finished step is recorded before the next one runs, so a restart resumes
// where it stopped), retries with exponential backoff and jitter, and dead
// letters.
//
// It reads events only from the Store's outbox, so nothing runs before it is on
// disk, and removes an event from the outbox only through Store.Done or
// Store.DeadLetter after the chain finished or was given up. Delivery is
// at-least-once: a step interrupted by a crash or a store error runs again.
//
// It must not know what an action does (internal/actions), how events are
// detected (internal/poller) or how the store keeps them (internal/state): the
// Store interface is declared here, with dispatch's own Item type.
package dispatch
