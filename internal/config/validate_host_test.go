package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
)

// hostsDoc is a config with the given hosts block (YAML under hosts:) and
// one watch on host "inner".
func hostsDoc(hosts string) string {
	return "hosts:\n" + hosts + "watches:\n  - {name: w, host: inner, path: /in}\n"
}

func TestJumpValidation(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		name, hosts, key, msg string
	}{
		{"unknown", "  inner: {" + okHost + ", jump: bastoin}\n  bastion: {" + okHost + "}\n",
			"hosts.inner.jump", `names host "bastoin", which is not defined under hosts: (did you mean "bastion"?)`},
		{"self", "  inner: {" + okHost + ", jump: inner}\n",
			"hosts.inner.jump", "loop of jump hosts (inner -> inner)"},
		{"empty", "  inner: {" + okHost + `, jump: ""}` + "\n",
			"hosts.inner.jump", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, hostsDoc(tc.hosts)), tc.key, tc.msg)
		})
	}

	t.Run("cycle", func(t *testing.T) {
		probs := problemsOf(t, hostsDoc("  inner: {"+okHost+", jump: a}\n  a: {"+okHost+", jump: b}\n  b: {"+okHost+", jump: a}\n"))
		wantProblem(t, probs, "hosts.a.jump", "loop of jump hosts (a -> b -> a)")
		wantProblem(t, probs, "hosts.b.jump", "loop of jump hosts (b -> a -> b)")
		wantProblem(t, probs, "hosts.inner.jump", "loop of jump hosts (inner -> a -> b -> a)")
	})

	t.Run("too long", func(t *testing.T) {
		hosts := "  inner: {" + okHost + ", jump: j1}\n"
		for i := 1; i <= 9; i++ {
			next := ""
			if i < 9 {
				next = ", jump: j" + strconv.Itoa(i+1)
			}
			hosts += "  j" + strconv.Itoa(i) + ": {" + okHost + next + "}\n"
		}
		wantProblem(t, problemsOf(t, hostsDoc(hosts)), "hosts.inner.jump", "more than 8 jump hosts")
	})

	t.Run("chain of two resolves", func(t *testing.T) {
		c := mustParse(t, hostsDoc("  inner: {"+okHost+", jump: mid}\n  mid: {address: mid.lan, user: u, password: pw, jump: edge}\n  edge: {address: edge.example.com, user: u, password: pw}\n"))
		h := c.Hosts["inner"]
		if h.JumpHost == nil || h.JumpHost.Name != "mid" || h.JumpHost.Address != "mid.lan:22" {
			t.Fatalf("inner.JumpHost = %+v, want mid at mid.lan:22", h.JumpHost)
		}
		if e := h.JumpHost.JumpHost; e == nil || e.Name != "edge" || e.Address != "edge.example.com:22" || e.JumpHost != nil {
			t.Fatalf("mid.JumpHost = %+v, want edge at edge.example.com:22 and no further jump", e)
		}
		if c.Hosts["edge"].JumpHost != nil {
			t.Errorf("edge has a JumpHost without jump")
		}
		// A reload compares hosts with reflect.DeepEqual: a changed jump
		// host (two hops away) must make the host using it differ.
		moved := mustParse(t, hostsDoc("  inner: {"+okHost+", jump: mid}\n  mid: {address: mid.lan, user: u, password: pw, jump: edge}\n  edge: {address: edge2.example.com, user: u, password: pw}\n"))
		if reflect.DeepEqual(c.Hosts["inner"], moved.Hosts["inner"]) {
			t.Errorf("inner compares equal although its jump host's jump host moved")
		}
		same := mustParse(t, hostsDoc("  inner: {"+okHost+", jump: mid}\n  mid: {address: mid.lan, user: u, password: pw, jump: edge}\n  edge: {address: edge.example.com, user: u, password: pw}\n"))
		if !reflect.DeepEqual(c.Hosts["inner"], same.Hosts["inner"]) {
			t.Errorf("inner differs between two loads of the same config")
		}
	})
}

func TestCertificateFileValidation(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, caPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(typ uint32) []byte {
		c := &ssh.Certificate{Key: sshPub, CertType: typ, KeyId: "id", ValidPrincipals: []string{"u"},
			ValidBefore: ssh.CertTimeInfinity}
		if err := c.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		return ssh.MarshalAuthorizedKey(c)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userCert := write("id-cert.pub", sign(ssh.UserCert))
	hostCert := write("host-cert.pub", sign(ssh.HostCert))
	plain := write("id.pub", ssh.MarshalAuthorizedKey(sshPub))
	garbage := write("garbage", []byte("not a key\n"))
	key := write("id", []byte("unused: the key is read when connecting\n"))

	host := func(extra string) string {
		return hostsDoc("  inner: {address: h, user: u, private_key_file: " + key + ", " + extra + "}\n")
	}
	if c := mustParse(t, host("certificate_file: "+userCert)); c.Hosts["inner"].CertificateFile != userCert {
		t.Errorf("CertificateFile = %q, want %q", c.Hosts["inner"].CertificateFile, userCert)
	}
	for _, tc := range []struct{ name, extra, msg string }{
		{"missing", "certificate_file: " + filepath.Join(dir, "nope-cert.pub"), "cannot read the certificate"},
		{"garbage", "certificate_file: " + garbage, "is not an OpenSSH certificate"},
		{"plain key", "certificate_file: " + plain, "holds a plain ssh-ed25519 public key, not a certificate"},
		{"host cert", "certificate_file: " + hostCert, "is a host certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, host(tc.extra)), "hosts.inner.certificate_file", tc.msg)
		})
	}
	t.Run("without key", func(t *testing.T) {
		doc := hostsDoc("  inner: {" + okHost + ", certificate_file: " + userCert + "}\n")
		wantOneProblem(t, problemsOf(t, doc), "hosts.inner.certificate_file", "private_key_file is not")
	})
}
