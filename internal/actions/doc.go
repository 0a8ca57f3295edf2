// Package actions implements the steps an event runs through: download,
// exec, webhook, move, delete and log. Each action is constructed from its
// config.Action by the one explicit registry in registry.go, validated, run
// once per event and closed. Ordering, retries and dead letters are not the
// business of this package: see internal/dispatch.
package actions
