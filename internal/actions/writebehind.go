package actions

import "os"

// writeBehindChunk is how many bytes a download writes before it asks the
// kernel to start writing them to disk.
const writeBehindChunk = 8 << 20

// writeBehind writes to f and, every writeBehindChunk bytes, starts the
// disk writes of what it wrote (startWriteback), without waiting for them.
// The fsync that makes a download durable then finds most pages clean:
// writing 1 GiB and then fsyncing it costs ~1 s on the bench machine, all
// of it after the transfer; started early, that work overlaps the
// transfer. Errors of the early writes are not lost: fsync reports them.
type writeBehind struct {
	f       *os.File
	off     int64 // bytes written
	started int64 // bytes whose writeback was started
}

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writeBehindChunk {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}
