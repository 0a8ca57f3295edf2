package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestJSONSchemaHasEveryKey: every key the loader accepts is in the schema
// at the same place (it is generated from the same table), objects refuse
// other keys, and every action type allows exactly its own keys.
func TestJSONSchemaHasEveryKey(t *testing.T) {
	raw, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %v", root["$schema"])
	}
	var walk func(o *object, s map[string]any, path string)
	walk = func(o *object, s map[string]any, path string) {
		if s["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is %v, want false", path, s["additionalProperties"])
		}
		props, _ := s["properties"].(map[string]any)
		if len(props) != len(o.fields) {
			t.Errorf("%s: %d properties, the loader knows %d keys", path, len(props), len(o.fields))
		}
		for _, f := range o.fields {
			p, ok := props[f.key].(map[string]any)
			if !ok {
				t.Errorf("%s.%s is not in the schema", path, f.key)
				continue
			}
			switch f.kind {
			case kindObject:
				walk(f.sub, p, path+"."+f.key)
			case kindObjectMap:
				walk(f.sub, p["additionalProperties"].(map[string]any), path+"."+f.key+".*")
			case kindObjectList:
				walk(f.sub, p["items"].(map[string]any), path+"."+f.key+"[]")
			}
		}
	}
	walk(schemaOf(reflect.TypeFor[Config]()), root, "")

	action := root["properties"].(map[string]any)["watches"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)["actions"].(map[string]any)["items"].(map[string]any)
	rules, _ := action["allOf"].([]any)
	if len(rules) != len(actionTypes()) {
		t.Fatalf("%d action rules for %d action types", len(rules), len(actionTypes()))
	}
	for i, typ := range actionTypes() {
		then := rules[i].(map[string]any)["then"].(map[string]any)
		var allowed []string
		for _, k := range then["propertyNames"].(map[string]any)["enum"].([]any) {
			allowed = append(allowed, k.(string))
		}
		keys, _ := actionKeys(typ)
		if want := append([]string{"type", "events"}, keys...); !slices.Equal(allowed, want) {
			t.Errorf("action %s allows %v, want %v", typ, allowed, want)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{File: "c.yaml", Hosts: map[string]Host{
		"ok":      {PrivateKeyFile: key, KnownHostsFile: key},
		"pinned":  {KnownHostsFile: filepath.Join(dir, "ignored"), HostKeyFingerprint: "SHA256:x"}, // known_hosts not used
		"missing": {PrivateKeyFile: filepath.Join(dir, "nokey"), KnownHostsFile: dir},
	}, Watches: []Watch{{Name: "w", Actions: []Action{{Type: "webhook", SecretFile: filepath.Join(dir, "nosecret")}}}}}
	err := CheckFiles(c)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("CheckFiles: %v, want an *Error", err)
	}
	var keys []string
	for _, p := range ce.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"hosts.missing.private_key_file", "hosts.missing.known_hosts_file", "watches[0].actions[0].secret_file"}
	if !slices.Equal(keys, want) {
		t.Errorf("problems of %v, want %v:\n%v", keys, want, err)
	}
	if !strings.Contains(err.Error(), "no such file or directory") || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("messages: %v", err)
	}
	c.Hosts = map[string]Host{"ok": c.Hosts["ok"]}
	c.Watches = nil
	if err := CheckFiles(c); err != nil {
		t.Errorf("readable files: %v", err)
	}
}
