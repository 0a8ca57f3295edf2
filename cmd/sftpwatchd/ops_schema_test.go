package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// compileSchema compiles what `sftpwatchd config schema` prints.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	r := sftpwatchd(t, nil, "config", "schema")
	if r.code != 0 {
		t.Fatalf("config schema: exit %d stderr %s", r.code, r.stderr)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("config schema printed no JSON: %v\n%s", err, r.stdout)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlAsJSON turns each YAML document of data into the JSON value a
// validator takes.
func yamlAsJSON(t *testing.T, data []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		j, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
}

func TestConfigSchemaValidatesShippedConfigs(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("../../configs/*.yaml")
	examples, _ := filepath.Glob("../../configs/examples/*")
	files = append(files, examples...)
	if len(files) < 3 {
		t.Fatalf("found only %v shipped configs", files)
	}
	configs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		configs[f] = b
	}
	// The Kubernetes example carries a config in its ConfigMap.
	k8s := "../../deploy/container/kubernetes-sidecar.yaml"
	raw, err := os.ReadFile(k8s)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range yamlAsJSON(t, raw) {
		m, _ := doc.(map[string]any)
		if m["kind"] != "ConfigMap" {
			continue
		}
		data, _ := m["data"].(map[string]any)
		for name, v := range data {
			if str, ok := v.(string); ok && strings.HasSuffix(name, ".yaml") {
				configs[k8s+":"+name] = []byte(str)
			}
		}
	}
	if _, ok := configs[k8s+":config.yaml"]; !ok {
		t.Errorf("no config found in the ConfigMap of %s", k8s)
	}
	for name, b := range configs {
		for _, doc := range yamlAsJSON(t, b) {
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s does not validate against the schema: %v", name, err)
			}
		}
	}

	// Typos and misplaced keys fail, as they fail the loader.
	for name, bad := range map[string]string{
		"typo key":              "hosts: {h: {address: a, user: u}}\nwatches: [{name: w, host: h, path: /x, intervall: 5s}]\n",
		"key of another action": "hosts: {h: {address: a, user: u}}\nwatches: [{name: w, host: h, path: /x, actions: [{type: log, dest: /tmp}]}]\n",
		"unknown enum":          "log: {level: verbose}\nhosts: {h: {address: a, user: u}}\nwatches: [{name: w, host: h, path: /x}]\n",
		"missing required":      "hosts: {h: {address: a, user: u}}\nwatches: [{name: w, host: h}]\n",
		"bad duration":          "hosts: {h: {address: a, user: u}}\nwatches: [{name: w, host: h, path: /x, interval: 30}]\n",
	} {
		if err := s.Validate(yamlAsJSON(t, []byte(bad))[0]); err == nil {
			t.Errorf("%s: the schema accepts %q", name, bad)
		}
	}
	ok := "hosts: {h: {address: a, user: u, max_connections: \"${CONNS}\"}}\nwatches: [{name: w, host: h, path: /x, interval: 0, actions: [{type: download, dest: /d, on_delete: remove}]}]\n"
	if err := s.Validate(yamlAsJSON(t, []byte(ok))[0]); err != nil {
		t.Errorf("the schema refuses a valid config: %v", err)
	}
}
