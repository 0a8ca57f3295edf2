package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// undefinedVarError is expand's error for a ${VAR} whose variable is not set.
type undefinedVarError struct{ name string }

func (e *undefinedVarError) Error() string {
	return fmt.Sprintf("references ${%s}, which is not set in the environment (export it, or write $$ for a literal $)", e.name)
}

// expand replaces every ${VAR} in s with the value of the environment variable
// VAR. "$$" is a literal "$"; a "$" followed by anything else is kept as it
// is, so "$HOME" and "price: 5$" pass through unchanged. A reference to a
// variable that is not set is an error (set-but-empty is not: callers that
// must not be empty, such as passwords, check that themselves). Errors name
// the variable, never a value.
func expand(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`has an unterminated "${": close it with "}" or write "$$" for a literal "$"`)
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				// The text between the braces is not echoed: it may be part of a secret.
				return "", errors.New(`has an invalid ${...} reference: a variable name is letters, digits and "_", not starting with a digit (write $$ for a literal $)`)
			}
			val, ok := os.LookupEnv(name)
			if !ok {
				return "", &undefinedVarError{name: name}
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
