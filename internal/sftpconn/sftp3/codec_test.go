package sftp3

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/sftp"
)

// invalidUTF8 is a name that is not UTF-8: names are bytes.
const invalidUTF8 = "inv\xffalid\xfe"

// nameEnt is one entry to encode in a NAME payload.
type nameEnt struct {
	name, longname string
	flags          uint32
	e              Attrs
	ext            [][2]string
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// encodeName builds a NAME payload (after type and id) the way a server does.
func encodeName(ents []nameEnt) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(ents)))
	for _, n := range ents {
		b = appendString(b, n.name)
		b = appendString(b, n.longname)
		b = binary.BigEndian.AppendUint32(b, n.flags)
		if n.flags&attrSize != 0 {
			b = binary.BigEndian.AppendUint64(b, n.e.Size)
		}
		if n.flags&attrUIDGID != 0 {
			b = binary.BigEndian.AppendUint32(b, n.e.UID)
			b = binary.BigEndian.AppendUint32(b, n.e.GID)
		}
		if n.flags&attrPermissions != 0 {
			b = binary.BigEndian.AppendUint32(b, n.e.Mode)
		}
		if n.flags&attrACModTime != 0 {
			b = binary.BigEndian.AppendUint32(b, n.e.Atime)
			b = binary.BigEndian.AppendUint32(b, n.e.Mtime)
		}
		if n.flags&attrExtended != 0 {
			b = binary.BigEndian.AppendUint32(b, uint32(len(n.ext)))
			for _, kv := range n.ext {
				b = appendString(b, kv[0])
				b = appendString(b, kv[1])
			}
		}
	}
	return b
}

const allAttrs = attrSize | attrUIDGID | attrPermissions | attrACModTime

var sampleName = []nameEnt{
	{name: ".", longname: "drwxr-xr-x 2 u g 4096 Jan 1 .", flags: allAttrs, e: Attrs{Mode: 0o40755}},
	{name: "plain", longname: "-rw-r--r-- 1 u g 5 Jan 1 plain", flags: allAttrs,
		e: Attrs{Size: 5, Mode: 0o100644, UID: 1000, GID: 100, Atime: 1700000000, Mtime: 1600000000}},
	{name: "..", longname: "", flags: 0},
	{name: "new\nline $(touch PWNED) " + invalidUTF8, longname: "x", flags: attrSize | attrExtended,
		e: Attrs{Size: 1 << 40}, ext: [][2]string{{"a@b", "c"}, {"", ""}}},
	{name: "only-perm", flags: attrPermissions, e: Attrs{Mode: 0o120777}},
	{name: "", longname: "an empty name passes through: Walk drops it", flags: 0},
}

func TestDecodeName(t *testing.T) {
	p := encodeName(sampleName)
	got, n, err := decodeName(p, nil)
	if err != nil || n != len(p) {
		t.Fatalf("decodeName: %v, consumed %d of %d", err, n, len(p))
	}
	var want []Entry
	for _, s := range sampleName {
		if s.name == "." || s.name == ".." {
			continue
		}
		want = append(want, Entry{Filename: s.name, Attrs: s.e})
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if fi := &got[0]; fi.Size() != 5 || fi.Mode() != 0o644 || fi.ModTime().Unix() != 1600000000 ||
		fi.Sys().(*Attrs).Atime != 1700000000 || fi.Sys().(*Attrs).UID != 1000 {
		t.Errorf("FileInfo of %+v: size %d mode %v mtime %v sys %+v", got[0], fi.Size(), fi.Mode(), fi.ModTime(), fi.Sys())
	}
	if got[2].Mode() != fs.ModeSymlink|0o777 {
		t.Errorf("link mode %v", got[2].Mode())
	}

	// The names are copies: the payload's buffer may be reused.
	for i := range p {
		p[i] ^= 0xff
	}
	if got[0].Filename != "plain" || got[1].Filename != sampleName[3].name {
		t.Fatalf("names changed with the payload: %q", []string{got[0].Filename, got[1].Filename})
	}
	p = encodeName(sampleName)

	// Appends to what is there; trailing bytes are tolerated.
	more, n, err := decodeName(append(p, 1, 2, 3), got)
	if err != nil || n != len(p) || len(more) != 2*len(want) || more[len(want)].Filename != "plain" {
		t.Fatalf("second decode: %d entries, consumed %d, %v", len(more), n, err)
	}

	// Every truncation is an error and leaves dst as it was.
	for k := range len(p) {
		before := []Entry{{Filename: "kept"}}
		out, n, err := decodeName(p[:k], before)
		if !errors.Is(err, ErrProtocol) || n != 0 || len(out) != 1 || out[0].Filename != "kept" {
			t.Fatalf("truncated at %d: %d entries, consumed %d, %v", k, len(out), n, err)
		}
	}
}

// TestDecodeNameMany decodes replies of more names than decodeName keeps
// positions for on its stack, of every length from 0 to 299 bytes.
func TestDecodeNameMany(t *testing.T) {
	for _, n := range []int{127, 128, 129, 300} {
		ents := make([]nameEnt, n)
		for i := range ents {
			ents[i] = nameEnt{name: strings.Repeat(string(rune('a'+i%26)), i), longname: "ls -l", flags: attrSize, e: Attrs{Size: uint64(i)}}
		}
		ents[0].name = "." // left out: the positions shift by one
		got, _, err := decodeName(encodeName(ents), []Entry{{Filename: "before"}})
		if err != nil || len(got) != n {
			t.Fatalf("%d names: %d entries, %v", n, len(got), err)
		}
		if got[0].Filename != "before" {
			t.Fatalf("%d names: dst[0] = %q", n, got[0].Filename)
		}
		for i := 1; i < n; i++ {
			if got[i].Filename != ents[i].name || got[i].Attrs.Size != uint64(i) {
				t.Fatalf("%d names: entry %d = %q size %d, want %q", n, i, got[i].Filename, got[i].Attrs.Size, ents[i].name)
			}
		}
	}
}

func TestDecodeNameLyingCounts(t *testing.T) {
	// 4 billion names announced in 12 bytes: refused before allocating.
	p := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	p = append(p, make([]byte, 12)...)
	if _, _, err := decodeName(p, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying count: %v", err)
	}
	// A string longer than the packet.
	p = encodeName([]nameEnt{{name: "x"}})
	binary.BigEndian.PutUint32(p[4:], 1<<31)
	if _, _, err := decodeName(p, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying string length: %v", err)
	}
	// An extension count far beyond the packet.
	p = encodeName([]nameEnt{{name: "x", flags: attrExtended}})
	binary.BigEndian.PutUint32(p[len(p)-4:], 0xffffffff)
	if _, _, err := decodeName(p, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying extension count: %v", err)
	}
}

func TestDecodeStatus(t *testing.T) {
	full := appendString(appendString(binary.BigEndian.AppendUint32(nil, fxNoSuchFile), "No such file"), "en")
	for _, tc := range []struct {
		name string
		p    []byte
		code uint32
		msg  string
		err  bool
	}{
		{"full", full, fxNoSuchFile, "No such file", false},
		{"no message (old servers)", full[:4], fxNoSuchFile, "", false},
		{"no language", full[:4+4+len("No such file")], fxNoSuchFile, "No such file", false},
		{"message cut short", full[:10], fxNoSuchFile, "", false},
		{"no code", full[:3], 0, "", true},
	} {
		code, msg, err := decodeStatus(tc.p)
		if code != tc.code || msg != tc.msg || (err != nil) != tc.err {
			t.Errorf("%s: %d %q %v", tc.name, code, msg, err)
		}
	}
}

// TestFileModeAsPkgSFTP compares the mode conversion with pkg/sftp's for
// every file type and special bit.
func TestFileModeAsPkgSFTP(t *testing.T) {
	for typ := uint32(0); typ <= 0o17; typ++ {
		for special := uint32(0); special <= 0o7; special++ {
			for _, perm := range []uint32{0, 0o644, 0o777} {
				m := typ<<12 | special<<9 | perm
				if got, want := FileMode(m), (&sftp.FileStat{Mode: m}).FileMode(); got != want {
					t.Errorf("mode %#o: %v, pkg/sftp %v", m, got, want)
				}
			}
		}
	}
}

func TestStatusError(t *testing.T) {
	for _, tc := range []struct {
		code              uint32
		notExist, permDen bool
	}{
		{fxNoSuchFile, true, false},
		{fxPermissionDenied, false, true},
		{4, false, false},
		{8, false, false},
	} {
		err := fmt.Errorf("list %q: %w", "/d", &StatusError{Code: tc.code, Msg: "the server's words"})
		var se *StatusError
		if errors.Is(err, fs.ErrNotExist) != tc.notExist || errors.Is(err, fs.ErrPermission) != tc.permDen ||
			!errors.As(err, &se) || se.Code != tc.code || errors.Is(err, ErrProtocol) ||
			!strings.Contains(err.Error(), "the server's words") {
			t.Errorf("code %d: %v", tc.code, err)
		}
	}
}

// FuzzDecodeName feeds arbitrary payloads to the NAME and STATUS decoders:
// they never panic, never report more entries than announced, and reject
// every truncation of a payload they accept.
func FuzzDecodeName(f *testing.F) {
	f.Add(encodeName(sampleName))
	f.Add(encodeName(nil))
	f.Add(encodeName([]nameEnt{{name: "a", flags: attrExtended, ext: [][2]string{{"k", "v"}}}}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		decodeStatus(p) //nolint:errcheck // must only not panic
		out, n, err := decodeName(p, nil)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || n != 0 || len(out) != 0 {
				t.Fatalf("failed decode: %d entries, consumed %d, %v", len(out), n, err)
			}
			return
		}
		if n < 4 || n > len(p) || uint32(len(out)) > binary.BigEndian.Uint32(p) {
			t.Fatalf("consumed %d of %d, %d entries of %d announced", n, len(p), len(out), binary.BigEndian.Uint32(p))
		}
		for _, e := range out {
			if e.Filename == "." || e.Filename == ".." {
				t.Fatalf("%q passed", e.Filename)
			}
			if !strings.Contains(string(p), e.Filename) {
				t.Fatalf("name %q is not in the payload", e.Filename)
			}
			_ = e.Mode()
		}
		for k := range n {
			if _, _, err := decodeName(p[:k], nil); err == nil {
				t.Fatalf("truncated to %d of %d bytes: accepted", k, n)
			}
		}
	})
}

// TestSFTPModeRoundTrip: ModeBits is FileMode's inverse for every type and
// the permission, setuid, setgid and sticky bits, so a listing converted
// from a FileInfo that is not pkg/sftp's keeps its mode.
func TestSFTPModeRoundTrip(t *testing.T) {
	types := []fs.FileMode{0, fs.ModeDir, fs.ModeSymlink, fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice}
	for _, typ := range types {
		for _, perm := range []fs.FileMode{0, 0o644, 0o777 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o700 | fs.ModeSticky} {
			m := typ | perm
			if got := FileMode(ModeBits(m)); got != m {
				t.Errorf("FileMode(ModeBits(%v)) = %v", m, got)
			}
		}
	}
	if got := ModeBits(0o644); got != 0o100644 {
		t.Errorf("ModeBits(0644) = %o, want a regular file's 100644", got)
	}
}

// BenchmarkDecodeName is the client's work per listing that does not touch
// the network, before the walker builds its DirListing: decode one NAME
// reply of 100 entries as OpenSSH sends it (longname and all) and sort it
// as List does. ns/entry is deterministic enough to compare changes on a
// busy machine, where the OpenSSH benchmarks are not.
func BenchmarkDecodeName(b *testing.B) {
	const n = 100
	ents := make([]nameEnt, n)
	for i := range ents {
		name := fmt.Sprintf("file-%05d.csv", (i*37)%n) // readdir order is not name order
		ents[i] = nameEnt{
			name:     name,
			longname: "-rw-r--r--    1 watcher  watcher         0 Nov 25 15:09 " + name,
			flags:    allAttrs,
			e:        Attrs{Size: 0, Mode: 0o100644, UID: 1000, GID: 1000, Atime: 1764083340, Mtime: 1764083340},
		}
	}
	payload := encodeName(ents)
	b.ReportAllocs()
	for b.Loop() {
		entries, _, err := decodeName(payload, nil)
		if err != nil || len(entries) != n {
			b.Fatal(len(entries), err)
		}
		slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Filename, b.Filename) })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
