package daemon

import (
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// HostConfig maps a configured host onto the SFTP layer's settings (secrets
// were already read from their *_file keys by the config package).
// A host with a jump host gets that host's settings as its Jump.
func HostConfig(h config.Host) sftpconn.HostConfig {
	var jump *sftpconn.HostConfig
	if h.JumpHost != nil {
		j := HostConfig(*h.JumpHost)
		jump = &j
	}
	return sftpconn.HostConfig{
		Name:                  h.Name,
		Address:               h.Address,
		User:                  h.User,
		Password:              h.Password,
		PrivateKeyFile:        h.PrivateKeyFile,
		PrivateKeyPassphrase:  h.PrivateKeyPassphrase,
		CertificateFile:       h.CertificateFile,
		Agent:                 h.Agent,
		KnownHostsFile:        h.KnownHostsFile,
		HostKeyFingerprint:    h.HostKeyFingerprint,
		InsecureIgnoreHostKey: h.InsecureIgnoreHostKey,
		Ciphers:               h.Ciphers,
		MaxConnections:        h.MaxConnections,
		MaxConcurrentRequests: h.MaxConcurrentRequests,
		ConnectTimeout:        h.ConnectTimeout,
		RequestTimeout:        h.RequestTimeout,
		Keepalive:             h.Keepalive,
		Jump:                  jump,
	}
}
