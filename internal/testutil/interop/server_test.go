package interop

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestServersServe: each server logs the test user in with its password,
// presents the host key in KnownHostsFile and lists Root over SFTP.
func TestServersServe(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *Server{
		"proftpd":  StartProFTPD,
		"dropbear": StartDropbear,
	} {
		t.Run(name, func(t *testing.T) {
			s := start(t)
			if err := os.WriteFile(filepath.Join(s.Root, "x"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			hk, err := knownhosts.New(s.KnownHostsFile)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
				User: s.User, Auth: []ssh.AuthMethod{ssh.Password(s.Password)},
				HostKeyCallback: hk, Timeout: 10 * time.Second,
			})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer sc.Close()
			c, err := sftp.NewClient(sc)
			if err != nil {
				t.Fatalf("sftp: %v", err)
			}
			defer c.Close()
			infos, err := c.ReadDir(s.Root)
			if err != nil || len(infos) != 1 || infos[0].Name() != "x" {
				t.Fatalf("ReadDir %s: %v %v", s.Root, infos, err)
			}
		})
	}
}
