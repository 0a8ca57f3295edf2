package sftpserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// TestSessionExitStatus: a client that ends its SFTP session gets the
// channel's exit-status 0 before its close, as from OpenSSH's sftp-server
// (without it `ssh -s` exits 255 and scp reports a failure).
func TestSessionExitStatus(t *testing.T) {
	s, _ := startTest(t, Options{})
	sc, err := dialSSH(t, s, ssh.Password(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ch, reqs, err := sc.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"sftp"}))
	if err != nil || !ok {
		t.Fatalf("subsystem sftp: %v %v", ok, err)
	}
	c, err := sftp.NewClientPipe(ch, ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	if err := ch.CloseWrite(); err != nil { // EOF to the server: the client is done
		t.Fatal(err)
	}
	var got []string
	status := -1
	for req := range reqs { // ends when the server closes the channel
		got = append(got, req.Type)
		if req.Type == "exit-status" {
			var st struct{ Status uint32 }
			if err := ssh.Unmarshal(req.Payload, &st); err != nil {
				t.Fatal(err)
			}
			status = int(st.Status)
		}
	}
	if status != 0 {
		t.Fatalf("channel requests %v, exit status %d; want exit-status 0", got, status)
	}
	c.Close()
}

// TestAdvertisedExtensionsServed: every extension the server advertises
// answers (statvfs@openssh.com is sftp's df).
func TestAdvertisedExtensionsServed(t *testing.T) {
	s, root := startTest(t, Options{})
	c := connect(t, s)
	os.WriteFile(filepath.Join(root, "a"), []byte("a"), 0o644)
	for _, ext := range []string{"statvfs@openssh.com", "posix-rename@openssh.com", "hardlink@openssh.com"} {
		if _, ok := c.HasExtension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	st, err := c.StatVFS("/")
	if err != nil || st.Blocks == 0 || st.Bsize == 0 {
		t.Errorf("statvfs: %+v %v", st, err)
	}
	if _, err := c.StatVFS("/missing"); err == nil {
		t.Error("statvfs of a missing path succeeded")
	}
	if err := c.PosixRename("/a", "/b"); err != nil {
		t.Errorf("posix-rename: %v", err)
	}
	if err := c.Link("/b", "/c"); err != nil {
		t.Errorf("hardlink: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "c")); err != nil || fi.Size() != 1 {
		t.Errorf("hard link: %v", err)
	}
}
