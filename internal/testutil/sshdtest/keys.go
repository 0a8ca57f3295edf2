package sshdtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/crypto/ssh"
)

// KeyType is the algorithm of a generated key.
type KeyType string

// Key types the harness can generate.
const (
	KeyEd25519 KeyType = "ed25519"
	KeyECDSA   KeyType = "ecdsa" // NIST P-256
	KeyRSA     KeyType = "rsa"   // 2048 bits
)

// KeyFormat is the file format of a generated private key.
type KeyFormat string

// Key file formats.
const (
	// FormatOpenSSH is "-----BEGIN OPENSSH PRIVATE KEY-----", what
	// ssh-keygen writes by default.
	FormatOpenSSH KeyFormat = "openssh"
	// FormatPEM is the legacy format: PKCS#1 for RSA, SEC1 for ECDSA,
	// PKCS#8 for ed25519; encrypted with the legacy PEM headers
	// (Proc-Type/DEK-Info) when a passphrase is given.
	FormatPEM KeyFormat = "pem"
)

// GenerateKey creates a private key of type kt.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case KeyECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown key type %q", kt)
	}
}

// MarshalKey encodes key as a private key file in format f, encrypted with
// passphrase when it is not empty.
func MarshalKey(key crypto.Signer, f KeyFormat, passphrase string) ([]byte, error) {
	switch f {
	case FormatOpenSSH:
		var (
			b   *pem.Block
			err error
		)
		if passphrase == "" {
			b, err = ssh.MarshalPrivateKey(key, "sshdtest")
		} else {
			b, err = ssh.MarshalPrivateKeyWithPassphrase(key, "sshdtest", []byte(passphrase))
		}
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(b), nil
	case FormatPEM:
		var (
			typ string
			der []byte
			err error
		)
		switch k := key.(type) {
		case *rsa.PrivateKey:
			typ, der = "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)
		case *ecdsa.PrivateKey:
			typ = "EC PRIVATE KEY"
			der, err = x509.MarshalECPrivateKey(k)
		default:
			typ = "PRIVATE KEY"
			der, err = x509.MarshalPKCS8PrivateKey(k)
		}
		if err != nil {
			return nil, err
		}
		if passphrase == "" {
			return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), nil
		}
		//lint:ignore SA1019 legacy encrypted PEM is exactly what this format is for: keys made by old ssh-keygen.
		b, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(passphrase), x509.PEMCipherAES256) //nolint:staticcheck
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(b), nil
	default:
		return nil, fmt.Errorf("unknown key format %q", f)
	}
}

// WriteKey generates a key of type kt and writes it to path (mode 0600) in
// format f, encrypted with passphrase when not empty. It returns the key.
//
// An encrypted OpenSSH-format key is re-encrypted by ssh-keygen with one
// bcrypt KDF round when ssh-keygen is installed: the default 16 rounds
// cost seconds per parse under the race detector.
func WriteKey(path string, kt KeyType, f KeyFormat, passphrase string) (crypto.Signer, error) {
	key, err := GenerateKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", kt, err)
	}
	fast := f == FormatOpenSSH && passphrase != ""
	keygen, lookErr := exec.LookPath("ssh-keygen")
	fast = fast && lookErr == nil
	pass := passphrase
	if fast {
		pass = ""
	}
	data, err := MarshalKey(key, f, pass)
	if err != nil {
		return nil, fmt.Errorf("marshal %s key as %s: %w", kt, f, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	if fast {
		out, err := exec.Command(keygen, "-p", "-q", "-a", "1", "-P", "", "-N", passphrase, "-f", path).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("ssh-keygen -p %s: %w: %s", path, err, out)
		}
	}
	return key, nil
}

// PublicKey returns the SSH public key of a generated private key.
func PublicKey(key crypto.Signer) (ssh.PublicKey, error) {
	return ssh.NewPublicKey(key.Public())
}
