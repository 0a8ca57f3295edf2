package event

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Lossless names. A remote name may hold bytes that are not UTF-8 (legal on
// Linux servers: "caf\xe9.txt"). JSON strings are Unicode, so encoding/json
// writes U+FFFD in place of such bytes. The event JSON therefore keeps
// path, rel_path, name, old_path and local_path as they always were (valid
// JSON, with U+FFFD), and adds, only for a field whose value is not valid
// UTF-8, a companion "<field>_b64": the standard base64 of its exact bytes.
// Decoding prefers the companion, so the bytes survive a round trip through
// the JSON (the state store's outbox and dead letters rely on it).

// B64 is the lossless companion of s: "" when s is valid UTF-8 (its JSON
// string is exact), else the standard base64 of its bytes.
func B64(s string) string {
	if utf8.ValidString(s) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// FromB64 decodes a companion written by B64 for the field named key:
// plain is returned when b64 is empty.
func FromB64(key, plain, b64 string) (string, error) {
	if b64 == "" {
		return plain, nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("event field %s: %w", key, err)
	}
	return string(b), nil
}

// plain is Event without its JSON methods.
type plain Event

// wire is the JSON form of an Event: its fields, then the companions.
type wire struct {
	plain
	PathB64      string `json:"path_b64,omitempty"`
	RelPathB64   string `json:"rel_path_b64,omitempty"`
	NameB64      string `json:"name_b64,omitempty"`
	OldPathB64   string `json:"old_path_b64,omitempty"`
	LocalPathB64 string `json:"local_path_b64,omitempty"`
}

// MarshalJSON writes the SPEC section 4 form, with a "<field>_b64"
// companion for each name field that is not valid UTF-8.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{
		plain:   plain(e),
		PathB64: B64(e.Path), RelPathB64: B64(e.RelPath), NameB64: B64(e.Name),
		OldPathB64: B64(e.OldPath), LocalPathB64: B64(e.LocalPath),
	})
}

// UnmarshalJSON reads what MarshalJSON writes (and the older form without
// companions): a companion, when present, gives the field's exact bytes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out := Event(w.plain)
	for _, f := range []struct {
		key  string
		dst  *string
		comp string
	}{
		{"path_b64", &out.Path, w.PathB64},
		{"rel_path_b64", &out.RelPath, w.RelPathB64},
		{"name_b64", &out.Name, w.NameB64},
		{"old_path_b64", &out.OldPath, w.OldPathB64},
		{"local_path_b64", &out.LocalPath, w.LocalPathB64},
	} {
		v, err := FromB64(f.key, *f.dst, f.comp)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	*e = out
	return nil
}
