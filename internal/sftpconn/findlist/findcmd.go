package findlist

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// findFormat is what find prints for every entry: type, size, mtime
// (seconds with a fraction), permission bits (octal), path relative to the
// root, link target; each field ends in a NUL, which no name can hold.
const findFormat = `%y\0%s\0%T@\0%m\0%P\0%l\0`

// findRootOnly is findCommand's maxDepth for a run that prints only the
// root (Probe).
const findRootOnly = -1

// findFields is the number of NUL-terminated fields of one record.
const findFields = 6

// ShellQuote quotes s for a POSIX shell (sh, bash, dash, ksh, zsh): the
// whole string in single quotes, each ' written as '\”. Inside single
// quotes such a shell gives every other byte, newlines and `$(…)`
// included, its literal meaning.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// findCommand is the remote command listing root: GNU find under the C
// locale (so that error messages and their quoting have one known form),
// -H so that a root that is a symbolic link is listed like SFTP lists it
// (through the link) while links below it are not followed. The root
// itself is printed too (with an empty %P) so that it can be checked to be
// a directory. maxDepth 0 is unlimited, findRootOnly prints the root alone.
func findCommand(root string, maxDepth int) string {
	var b strings.Builder
	b.WriteString("env LC_ALL=C find -H ")
	b.WriteString(ShellQuote(root))
	switch {
	case maxDepth == findRootOnly:
		b.WriteString(" -maxdepth 0")
	case maxDepth > 0:
		b.WriteString(" -maxdepth ")
		b.WriteString(strconv.Itoa(maxDepth))
	}
	b.WriteString(" -printf ")
	b.WriteString(ShellQuote(findFormat))
	return b.String()
}

// findPath is the path find names an entry by in its messages: the root as
// given, then "/" and the relative path ("" for the root itself).
func findPath(root, rel string) string {
	switch {
	case rel == "":
		return root
	case root == "/":
		return "/" + rel
	default:
		return root + "/" + rel
	}
}

// errFindMessage is a line on find's stderr that is not of the one form
// the find lister understands.
var errFindMessage = errors.New("unexpected message from find")

// parseFindError parses one line find writes for a file it could not
// process, in the C locale: "find: '<path>': <strerror text>", the path
// quoted by gnulib's quotearg (locale style: single quotes, C escapes,
// every byte outside printable ASCII as a 3-digit octal escape). It
// returns the decoded path and the error the text stands for.
func parseFindError(line string) (string, error, error) {
	rest, ok := strings.CutPrefix(line, "find: '")
	if !ok {
		return "", nil, fmt.Errorf("%w: %q", errFindMessage, line)
	}
	i := strings.LastIndex(rest, "': ")
	if i < 0 {
		return "", nil, fmt.Errorf("%w: %q", errFindMessage, line)
	}
	quoted, msg := rest[:i], rest[i+3:]
	p, err := unquoteC(quoted)
	if err != nil || msg == "" {
		return "", nil, fmt.Errorf("%w: %q", errFindMessage, line)
	}
	return p, errnoOf(msg), nil
}

// unquoteC reverses quotearg's escaping of a name between single quotes.
// Anything it would not have produced (a bare quote, an unknown escape, a
// byte outside printable ASCII) is an error: the line is not understood.
func unquoteC(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			return "", errors.New("unescaped quote")
		case c < 0x20 || c > 0x7e:
			return "", errors.New("unescaped control or non-ASCII byte")
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("trailing backslash")
		}
		switch e := s[i]; e {
		case '\\', '\'', '"', '?':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3':
			if i+2 >= len(s) || !isOctal(s[i+1]) || !isOctal(s[i+2]) {
				return "", errors.New("short octal escape")
			}
			b.WriteByte((e-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
			i += 2
		default:
			return "", fmt.Errorf("unknown escape \\%c", e)
		}
	}
	return b.String(), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// errnoOf is the error a C-locale strerror text stands for: permission
// and absence as fs.ErrPermission and fs.ErrNotExist (as the SFTP walk
// reports them), anything else as the text. Not a syscall.Errno: that is
// also a net.Error, which would make it look like a lost connection.
func errnoOf(msg string) error {
	switch msg {
	case "Permission denied":
		return fs.ErrPermission
	case "No such file or directory":
		return fs.ErrNotExist
	}
	return errors.New(msg)
}
