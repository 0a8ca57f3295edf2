package sftpconn

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// TestStatusErrorsClassified: the one classifier treats a status of our
// own client and one of pkg/sftp alike: a server's answer, not a lost
// connection, except for the connection-lost codes.
func TestStatusErrorsClassified(t *testing.T) {
	for _, tc := range []struct {
		code              uint32
		notExist, permDen bool
		conn              bool
	}{
		{2, true, false, false},
		{3, false, true, false},
		{4, false, false, false},
		{8, false, false, false},
		{6, false, false, true},
		{7, false, false, true},
	} {
		own := &sftp3.StatusError{Code: tc.code, Msg: "the server's words"}
		for _, err := range []error{own, fmt.Errorf("list %q: %w", "/d", own), &sftp.StatusError{Code: tc.code}} {
			_, ours := err.(*sftp.StatusError)
			ours = !ours
			if (ours && (IsNotExist(err) != tc.notExist || IsPermission(err) != tc.permDen)) ||
				IsConnectionError(err) != tc.conn || !serverAnswered(err) {
				t.Errorf("code %d: %T %v: %s", tc.code, err, err, classes(err))
			}
		}
		if !strings.Contains(own.Error(), "the server's words") {
			t.Errorf("code %d: %v", tc.code, own)
		}
	}
	if !IsConnectionError(fmt.Errorf("list: %w", sftp3.ErrProtocol)) || serverAnswered(sftp3.ErrProtocol) {
		t.Error("a protocol error of our own client is not a lost connection")
	}
	if !IsConnectionError(sftp3.ErrClosed) {
		t.Error("a closed client is not a lost connection")
	}
}

// localInfo is an os.FileInfo that is not pkg/sftp's.
type localInfo struct{ os.FileInfo }

func (localInfo) Sys() any { return nil }

func TestDirEntryOfForeignFileInfo(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a file")
	if err := os.WriteFile(p, []byte("12345"), 0o640); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	e := dirEntryOf(localInfo{fi})
	if e.Name() != "a file" || e.Size() != 5 || e.Mode() != 0o640 || !e.ModTime().Equal(mt) || e.Attrs.Mode != 0o100640 {
		t.Fatalf("dirEntryOf = %+v (mode %v, mtime %v)", e, e.Mode(), e.ModTime())
	}
}
