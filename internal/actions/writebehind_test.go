package actions

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteBehind: every byte lands in order, and writeback is started
// behind the writes in chunks (never ahead of them).
func TestWriteBehind(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 3*writeBehindChunk+12345)
	for i := range want {
		want[i] = byte(i * 7)
	}
	w := &writeBehind{f: f}
	starts := 0
	for p := want; len(p) > 0; {
		n := min(len(p), 1<<20+3)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
		if w.started > w.off {
			t.Fatalf("writeback started at %d, ahead of the %d bytes written", w.started, w.off)
		}
		if w.off-w.started >= writeBehindChunk {
			t.Fatalf("%d bytes written past the last writeback start", w.off-w.started)
		}
		if w.started != 0 && w.started == w.off {
			starts++
		}
	}
	if starts != 3 {
		t.Errorf("writeback started %d times, want 3", starts)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("content differs (%d bytes read, %v)", len(got), err)
	}
}
