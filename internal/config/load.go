package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// maxConfigSize bounds the config file Load reads.
const maxConfigSize = 16 << 20

// Load reads, defaults and validates the config file at path. Relative
// *_file, private_key_file and known_hosts_file paths in it are taken
// relative to the file's directory. A file that cannot be read is a plain
// error wrapping the os error (errors.Is(err, fs.ErrNotExist) works); every
// problem with its content is reported at once as an *Error.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("read config %s: larger than %d bytes", path, maxConfigSize)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return parse(data, path, base)
}

// Parse is Load without a file: data is the YAML document, source names it
// in error messages (and becomes Config.File). Relative paths in it stay
// relative to the working directory.
//
// The steps, each collecting problems rather than stopping:
//  1. decode the YAML into a node tree (go.yaml.in/yaml/v3, not viper's
//     reader: viper lower-cases every map key, which would turn exec's
//     env: {MODE: batch} into mode and host "Partner" into "partner");
//  2. walk it against the schema derived from the struct tags: unknown keys
//     (with a did-you-mean), value types, durations, ${VAR} expansion, and
//     SFTPWATCHD_* overrides through viper (see envLayer);
//  3. decode the checked tree into Config with mapstructure;
//  4. apply defaults (defaults.go), resolve paths, read *_file secrets;
//  5. validate every rule.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source, "")
}

func parse(data []byte, source, base string) (*Config, error) {
	p := newProblems()
	fail := func() error { return &Error{Source: source, Problems: p.sorted()} }

	root, ok := decodeYAML(data, p)
	if !ok {
		return nil, fail()
	}
	if root != nil && !isNull(root) && root.Kind != yaml.MappingNode {
		p.addAt("", root.Line, "must be a mapping of settings, got "+describe(root))
		return nil, fail()
	}
	w := &walker{p: p, present: map[string]bool{}, env: newEnvLayer(), budget: maxNodes}
	tree := w.object(root, schemaOf(reflect.TypeFor[Config]()), "", envPrefix)
	if w.blown {
		return nil, fail()
	}

	var c Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      &c,
		ErrorUnused: true,
		TagName:     "mapstructure",
	})
	if err == nil {
		err = dec.Decode(tree)
	}
	if err != nil {
		// The walker only lets through values of the right kinds; this is a
		// bug in the loader, reported rather than hidden.
		p.add("", fmt.Sprintf("internal error decoding the checked settings: %v", err))
		return nil, fail()
	}
	c.File = source

	set := func(key string) bool { return w.present[key] }
	applyDefaults(&c, set)
	resolvePaths(&c, base, p)
	loadSecrets(&c, set, p)
	(&validator{c: &c, set: set, p: p}).validate()
	if len(p.list) > 0 {
		return nil, fail()
	}
	resolveJumps(&c)
	return &c, nil
}

// yamlQuoted is what a YAML parser message quotes from the document.
var yamlQuoted = regexp.MustCompile("'[^']*'|`[^`]*`|\"[^\"]*\"")

// yamlMessage is a YAML parser error without the names it quotes from the
// document ("password: *hunter2" is an unknown anchor named hunter2); a
// quoted single character, the syntax it expected (',' or '}'), stays.
func yamlMessage(err error) string {
	return yamlQuoted.ReplaceAllStringFunc(err.Error(), func(q string) string {
		if len([]rune(q)) <= 3 {
			return q
		}
		return "'…'"
	})
}

// decodeYAML parses data as one YAML document and returns its root node (nil
// for an empty document). The YAML library is third-party code fed hostile
// input; a panic in it becomes a problem, never a crash.
func decodeYAML(data []byte, p *problems) (root *yaml.Node, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			p.add("", "is not valid YAML (the parser failed)")
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, true
	case err != nil:
		p.add("", "is not valid YAML: "+yamlMessage(err))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.add("", "is not valid YAML: "+yamlMessage(err))
		} else {
			p.addAt("", extra.Line, "holds more than one YAML document (---); put all settings in one")
		}
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], true
	}
	return nil, true
}
