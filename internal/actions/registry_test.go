package actions

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestRegistryTypesAndDefaults(t *testing.T) {
	if got, want := Types(), []string{"delete", "download", "exec", "log", "move", "webhook"}; !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	e := newRmEnv(t)
	d := Deps{Watch: "w", Host: "h", Root: e.root, Remote: e.remote, Self: e.self}
	all := []event.Type{event.Create, event.Modify, event.Delete, event.Rename}
	for _, tc := range []struct {
		cfg  config.Action
		want []event.Type
	}{
		{config.Action{Type: "download", Dest: t.TempDir()}, []event.Type{event.Create, event.Modify, event.Rename}},
		{config.Action{Type: "download", Dest: t.TempDir(), OnDelete: "remove"}, all},
		{config.Action{Type: "exec", Command: []string{"/bin/true"}}, all},
		{config.Action{Type: "webhook", URL: "http://127.0.0.1:1/"}, all},
		{config.Action{Type: "log"}, all},
		{config.Action{Type: "move", To: "/done"}, []event.Type{event.Create, event.Modify}},
		{config.Action{Type: "delete"}, []event.Type{event.Create, event.Modify}},
		{config.Action{Type: "exec", Command: []string{"/bin/true"}, Events: []string{"delete"}}, []event.Type{event.Delete}},
	} {
		a, err := New(tc.cfg, d)
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg.Type, err)
		}
		if a.Type() != tc.cfg.Type {
			t.Errorf("Type() = %q, want %q", a.Type(), tc.cfg.Type)
		}
		for _, typ := range all {
			if a.Handles(typ) != slices.Contains(tc.want, typ) {
				t.Errorf("%s %v: Handles(%s) = %v", tc.cfg.Type, tc.cfg.Events, typ, a.Handles(typ))
			}
		}
		if c, ok := a.(Closer); ok {
			_ = c.Close()
		}
	}
}

func TestRegistryRejects(t *testing.T) {
	e := newRmEnv(t)
	full := Deps{Root: e.root, Remote: e.remote, Self: e.self}
	for _, tc := range []struct {
		cfg config.Action
		d   Deps
	}{
		{config.Action{Type: "nope"}, full},
		{config.Action{Type: ""}, full},
		{config.Action{Type: "download"}, full},
		{config.Action{Type: "download", Dest: "/x", OnDelete: "purge"}, full},
		{config.Action{Type: "download", Dest: "/x"}, Deps{}},
		{config.Action{Type: "move"}, full},
		{config.Action{Type: "move", To: e.root}, full},
		{config.Action{Type: "move", To: "/done"}, Deps{Root: e.root, Remote: e.remote}},
		{config.Action{Type: "delete"}, Deps{Remote: e.remote, Self: e.self}},
		{config.Action{Type: "log", Events: []string{"created"}}, full},
		{config.Action{Type: "exec", Command: []string{"x"}, Env: map[string]string{"A=B": "c"}}, full},
	} {
		if _, err := New(tc.cfg, tc.d); err == nil {
			t.Errorf("%+v accepted", tc.cfg)
		}
	}
}

func TestLogAction(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a, err := New(config.Action{Type: "log"}, Deps{Watch: "w", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ev := hookEvent()
	ev.Type = event.Modify
	ev.Prev = &event.Prev{Size: 1000, MTime: ev.MTime.Add(-3600e9)}
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 1 {
		t.Fatalf("%d log lines, want 1", logs.Len())
	}
	f := logs.All()[0].ContextMap()
	for k, v := range map[string]any{"watch": "w", "id": ev.ID, "type": "modify", "path": ev.Path,
		"rel_path": ev.RelPath, "size": int64(1234), "mtime": "2026-11-24T10:00:00Z",
		"prev_size": int64(1000), "prev_mtime": "2026-11-24T09:00:00Z"} {
		if f[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, f[k], v)
		}
	}
}
