package daemon

import (
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// HostConfig maps a configured host onto the SFTP layer's settings (secrets
// were already read from their *_file keys by the config package).
func HostConfig(h config.Host) sftpconn.HostConfig {
	return sftpconn.HostConfig{
		Name:                  h.Name,
		Address:               h.Address,
		User:                  h.User,
		Password:              h.Password,
		PrivateKeyFile:        h.PrivateKeyFile,
		PrivateKeyPassphrase:  h.PrivateKeyPassphrase,
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
	}
}
