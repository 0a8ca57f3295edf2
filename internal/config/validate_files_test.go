package config

import (
	"slices"
	"testing"
)

// TestFilesOptionsRules covers min_size, max_size, require_marker,
// remove_marker, on_dead_letter and exec permanent_exit_codes: each bad
// value is one problem under its key path.
func TestFilesOptionsRules(t *testing.T) {
	cleanEnv(t)
	w := func(extra string) string { return doc(okHost, okWatch+", "+extra, "") }
	for _, tc := range []struct {
		name, doc, key, msg string
	}{
		{"min_size negative", w("min_size: -1"), "watches[0].min_size", "must not be negative"},
		{"max_size negative", w("max_size: -5"), "watches[0].max_size", "must not be negative"},
		{"max below min", w("min_size: 10, max_size: 9"), "watches[0].max_size", "must be >= min_size"},
		{"min_size type", w("min_size: big"), "watches[0].min_size", "whole number"},
		{"marker slash", w(`require_marker: "/done"`), "watches[0].require_marker", "plain suffix"},
		{"marker dotdot", w(`require_marker: ".."`), "watches[0].require_marker", "cannot be a marker suffix"},
		{"remove without marker", w("remove_marker: true"), "watches[0].remove_marker", "needs require_marker"},
		{"move_to relative", w("on_dead_letter: {move_to: failed}"), "watches[0].on_dead_letter.move_to", "not an absolute remote path"},
		{"move_to root", w("on_dead_letter: {move_to: /in/}"), "watches[0].on_dead_letter.move_to", "watched directory itself"},
		{"dead letter unknown key", w("on_dead_letter: {moveto: /x}"), "watches[0].on_dead_letter.moveto", "not a known setting"},
		{"exit code 0", act("{type: exec, command: [/bin/x], permanent_exit_codes: [2, 0]}"), "watches[0].actions[0].permanent_exit_codes[1]", "from 1 to 255"},
		{"exit code 256", act("{type: exec, command: [/bin/x], permanent_exit_codes: [256]}"), "watches[0].actions[0].permanent_exit_codes[0]", "from 1 to 255"},
		{"exit code not a number", act("{type: exec, command: [/bin/x], permanent_exit_codes: [x]}"), "watches[0].actions[0].permanent_exit_codes[0]", "whole number"},
		{"exit codes not a list", act("{type: exec, command: [/bin/x], permanent_exit_codes: 3}"), "watches[0].actions[0].permanent_exit_codes", "list of whole numbers"},
		{"exit codes on webhook", act(`{type: webhook, url: "http://h", permanent_exit_codes: [3]}`), "watches[0].actions[0].permanent_exit_codes", "is not a setting of a webhook action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}
}

func TestFilesOptionsParse(t *testing.T) {
	cleanEnv(t)
	c, err := Parse([]byte(doc(okHost, okWatch+`, min_size: 1, max_size: 1000, require_marker: .done, remove_marker: true, on_dead_letter: {move_to: /failed/}, actions: [{type: exec, command: [/bin/x], permanent_exit_codes: [2, 64]}]`, "")), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Watches[0]
	if got.MinSize != 1 || got.MaxSize != 1000 || got.RequireMarker != ".done" || !got.RemoveMarker || got.OnDeadLetter.MoveTo != "/failed" {
		t.Errorf("watch = %+v", got)
	}
	if codes := got.Actions[0].PermanentExitCodes; !slices.Equal(codes, []int{2, 64}) {
		t.Errorf("permanent_exit_codes = %v, want [2 64]", codes)
	}
}
