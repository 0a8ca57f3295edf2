package config

import (
	"reflect"
	"strings"
	"time"
)

// kind is the shape a setting's value must have in the YAML document.
type kind int

const (
	kindString     kind = iota
	kindBool            // true | false
	kindInt             // a whole number
	kindDuration        // a Go duration string: "30s"
	kindStringList      // [a, b]
	kindIntList         // [1, 2]
	kindStringMap       // {K: v}
	kindObject          // a nested block of settings (log:, retry:)
	kindObjectMap       // name → block (hosts:)
	kindObjectList      // list of blocks (watches:, actions:)
)

// field is one known key of an object.
type field struct {
	key  string
	kind kind
	sub  *object // for kindObject, kindObjectMap, kindObjectList
}

// object is the set of keys one YAML mapping may hold.
type object struct {
	fields []field
}

func (o *object) field(key string) (*field, bool) {
	for i := range o.fields {
		if o.fields[i].key == key {
			return &o.fields[i], true
		}
	}
	return nil, false
}

func (o *object) keys() []string {
	keys := make([]string, len(o.fields))
	for i, f := range o.fields {
		keys[i] = f.key
	}
	return keys
}

// schemaOf derives the accepted keys from the mapstructure tags of the config
// structs, so a field added to config.go is accepted (and type-checked)
// without touching the loader.
func schemaOf(t reflect.Type) *object {
	durationType := reflect.TypeFor[time.Duration]()
	o := &object{}
	for sf := range t.Fields() {
		tag, _, _ := strings.Cut(sf.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		f := field{key: tag}
		ft := sf.Type
		switch {
		case ft == durationType:
			f.kind = kindDuration
		case ft.Kind() == reflect.String:
			f.kind = kindString
		case ft.Kind() == reflect.Bool:
			f.kind = kindBool
		case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64:
			f.kind = kindInt
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			f.kind = kindStringList
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Int:
			f.kind = kindIntList
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.String:
			f.kind = kindStringMap
		case ft.Kind() == reflect.Struct:
			f.kind, f.sub = kindObject, schemaOf(ft)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			f.kind, f.sub = kindObjectMap, schemaOf(ft.Elem())
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			f.kind, f.sub = kindObjectList, schemaOf(ft.Elem())
		default:
			// A field type the loader does not know: a programmer error in
			// config.go, caught by TestSchemaCoversConfig.
			continue
		}
		o.fields = append(o.fields, f)
	}
	return o
}
