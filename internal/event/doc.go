// Package event defines the event record of SPEC section 4: what the poller
// produces, the state store persists and every action consumes. It is plain
// data with no behaviour beyond formatting helpers.
package event
