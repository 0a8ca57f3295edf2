// Command sftpwatchd watches directory trees on SFTP servers and turns what
// changes there into reliable actions. See README.md and SPEC.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Set by the linker: -X main.version=… -X main.commit=…
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes of SPEC section 2.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration problem (exit 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOGC"); !set {
		tuneGC(ctx) // gc.go
	}
	os.Exit(execute(ctx, os.Args[1:]))
}

// execute runs the command line args and returns the process exit code.
func execute(ctx context.Context, args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "sftpwatchd: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isFlagError(err) {
		return exitUsage
	}
	return exitFailure
}
