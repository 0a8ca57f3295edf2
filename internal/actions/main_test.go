package actions

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the child program of the exec tests: with
// ACTIONS_TEST_CHILD set it plays the named part instead of running tests.
// This keeps every argument away from any shell.
const (
	childModeEnv = "ACTIONS_TEST_CHILD"
	childOutEnv  = "ACTIONS_TEST_OUT"
)

// childRecord is what the "record" child writes to $ACTIONS_TEST_OUT.
type childRecord struct {
	Args  []string `json:"args"`
	Stdin string   `json:"stdin"`
	Env   []string `json:"env"`
	Cwd   string   `json:"cwd"`
}

func TestMain(m *testing.M) {
	mode := os.Getenv(childModeEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	os.Exit(runChild(mode))
}

func runChild(mode string) int {
	out := os.Getenv(childOutEnv)
	switch mode {
	case "record":
		stdin, _ := io.ReadAll(os.Stdin)
		cwd, _ := os.Getwd()
		b, _ := json.Marshal(childRecord{Args: os.Args[1:], Stdin: string(stdin), Env: os.Environ(), Cwd: cwd})
		if err := os.WriteFile(out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, strings.Repeat("noise ", 200))
		fmt.Fprintln(os.Stderr, "boom: the ingest failed")
		return 3
	case "spew":
		big := strings.Repeat("x", 1<<20)
		fmt.Print(big)
		fmt.Fprint(os.Stderr, "small")
		return 0
	case "group", "orphan":
		// Start a grandchild that inherits stdout, record its pid, then
		// hang (group) or leave at once (orphan).
		exe, _ := os.Executable()
		gc := exec.Command(exe)
		gc.Env = append(os.Environ(), childModeEnv+"=sleep")
		gc.Stdout = os.Stdout
		gc.Stderr = os.Stderr
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(out, []byte(strconv.Itoa(gc.Process.Pid)), 0o644); err != nil {
			return 1
		}
		if mode == "orphan" {
			return 0
		}
		time.Sleep(time.Hour)
		return 0
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}
