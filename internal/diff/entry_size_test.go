package diff

import (
	"testing"
	"unsafe"
)

// A snapshot holds one Entry per remote entry: keep it free of padding.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(Entry{}); unsafe.Sizeof(uintptr(0)) == 8 && got != 40 {
		t.Fatalf("unsafe.Sizeof(Entry{}) = %d, want 40", got)
	}
}
