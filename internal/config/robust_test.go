package config

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSchemaCoversConfig guards schemaOf: every tagged field of the config
// structs must be a key the loader accepts, or adding a field to config.go
// would make it silently unsettable.
func TestSchemaCoversConfig(t *testing.T) {
	var check func(reflect.Type, *object, string)
	check = func(rt reflect.Type, o *object, path string) {
		for sf := range rt.Fields() {
			tag := sf.Tag.Get("mapstructure")
			if tag == "-" {
				continue
			}
			f, ok := o.field(tag)
			if !ok {
				t.Errorf("%s.%s (%s) is not in the schema", path, tag, sf.Type)
				continue
			}
			if f.sub != nil {
				et := sf.Type
				if et.Kind() == reflect.Map || et.Kind() == reflect.Slice {
					et = et.Elem()
				}
				check(et, f.sub, path+"."+tag)
			}
		}
	}
	check(reflect.TypeFor[Config](), schemaOf(reflect.TypeFor[Config]()), "")
}

func TestWatchesAreNotEnvOverridable(t *testing.T) {
	cleanEnv(t)
	t.Setenv("SFTPWATCHD_WATCHES_0_PATH", "/elsewhere")
	t.Setenv("SFTPWATCHD_WATCHES_INCOMING_PATH", "/elsewhere")
	if p := mustParse(t, minimal).Watches[0].Path; p != "/upload" {
		t.Errorf("path = %q: watches must not take environment overrides", p)
	}
}

func TestEmptyAndOddDocuments(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct{ name, doc, key, msg string }{
		{"empty", "", "watches", "no watch is configured"},
		{"comment only", "# nothing\n", "watches", "no watch is configured"},
		{"scalar", "hello\n", "", "must be a mapping of settings, got a string"},
		{"list", "- a\n", "", "must be a mapping of settings, got a list"},
		{"syntax", "hosts: [\n", "", "is not valid YAML"},
		{"tabs", "hosts:\n\tpartner: {}\n", "", "is not valid YAML"},
		{"two documents", minimal + "---\n" + minimal, "", "more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}
}

func TestAliasBombIsAProblemNotAHang(t *testing.T) {
	cleanEnv(t)
	// A merge-key bomb: each level merges the previous one ten times, so a
	// naive walk visits 10^11 mappings.
	var b strings.Builder
	b.WriteString("hosts:\n  m0: &m0 {address: h, user: u, agent: true}\n")
	for i := 1; i < 12; i++ {
		b.WriteString("  m" + strconv.Itoa(i) + ": &m" + strconv.Itoa(i) + " {<<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*m" + strconv.Itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("watches: [{name: w, host: m11, path: /}]\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("err = %v, want a too-large problem", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// FuzzParse: no input makes Parse panic, hang, or return both or neither of
// a config and an error.
func FuzzParse(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec-example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spec)
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "    actions: [{type: exec, command: [x, '{{.Name}}']}, {type: download, dest: /d}]\n"))
	f.Add([]byte("hosts: {a: &h {address: '[::1]', user: u, agent: true}, b: {<<: *h}}\nwatches: [{name: w, host: b, path: /}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("log: {level: ${X}}\nhttp: {listen: ''}\n"))
	f.Add([]byte("\x00\xff: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if err != nil {
			if ce, ok := err.(*Error); !ok || len(ce.Problems) == 0 {
				t.Fatalf("error %T %v is not an *Error with problems", err, err)
			}
			_ = err.Error()
		}
	})
}
