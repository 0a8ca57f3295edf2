package actions

import (
	"context"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// TestExecPermanentExitCodes: a listed exit status fails permanently, an
// unlisted one and a signal stay retryable.
func TestExecPermanentExitCodes(t *testing.T) {
	exe := testExe(t)
	fail := childEnv(map[string]string{childModeEnv: "fail"}) // exits 3
	ev := &event.Event{ID: "i", Type: event.Create}

	a := newExec(t, config.Action{Command: []string{exe}, Env: fail, PermanentExitCodes: []int{64, 3}}, nil)
	err := a.Run(context.Background(), ev)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "permanent_exit_codes") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("listed status: err = %v, want permanent naming permanent_exit_codes and the status", err)
	}

	a = newExec(t, config.Action{Command: []string{exe}, Env: fail, PermanentExitCodes: []int{4}}, nil)
	if err := a.Run(context.Background(), ev); err == nil || IsPermanent(err) {
		t.Errorf("unlisted status: err = %v, want retryable", err)
	}

	// Killed by SIGTERM: a shell reports that as 143 (128+15), which is
	// listed here, yet a signal is never a permanent failure.
	a = newExec(t, config.Action{Command: []string{"/bin/sh", "-c", "kill -TERM $$"}, PermanentExitCodes: []int{143, 15, 1}}, nil)
	if err := a.Run(context.Background(), ev); err == nil || IsPermanent(err) {
		t.Errorf("signal: err = %v, want retryable", err)
	}
}

func TestExecPermanentExitCodesRefusedOutOfRange(t *testing.T) {
	for _, c := range []int{0, 256, -1} {
		_, err := New(config.Action{Type: "exec", Command: []string{"/bin/true"}, PermanentExitCodes: []int{c}}, Deps{Watch: "w"})
		if err == nil || !strings.Contains(err.Error(), "permanent_exit_codes") {
			t.Errorf("code %d: err = %v, want an error naming permanent_exit_codes", c, err)
		}
	}
}
