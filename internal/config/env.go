package config

import (
	"strings"

	"github.com/spf13/viper"
)

// envPrefix starts the name of every environment override.
const envPrefix = "SFTPWATCHD"

// envLayer looks up SFTPWATCHD_* overrides through viper.
//
// Every scalar key the walker visits is bound explicitly (BindEnv), because
// viper's AutomaticEnv only answers Get for keys it already knows and never
// reaches keys absent from the file; AllowEmptyEnv makes a variable that is
// set but empty an override too, so SFTPWATCHD_HTTP_LISTEN= disables the HTTP
// server. The viper key is the variable name itself: host names may hold
// dots, which would otherwise be read as viper's key delimiter.
//
// Which keys can be overridden:
//   - every scalar of the top level and its blocks: SFTPWATCHD_STATE_DIR,
//     SFTPWATCHD_SHUTDOWN_TIMEOUT, SFTPWATCHD_LOG_LEVEL, SFTPWATCHD_HTTP_LISTEN;
//   - every scalar of a host the file defines, the host name upper-cased with
//     every character other than A-Z, 0-9 and _ turned into _:
//     SFTPWATCHD_HOSTS_PARTNER_PASSWORD. The environment cannot add a host.
//   - not watches and actions: they are a list, and an index in a variable
//     name (SFTPWATCHD_WATCHES_0_PATH) would silently point at another watch
//     when the list is reordered. Use ${VAR} in the file for those.
//   - not lists or maps (ciphers, include, env, headers): use ${VAR} inside
//     their elements.
//
// Override values are taken literally: ${VAR} in them is not expanded.
type envLayer struct {
	v *viper.Viper
}

func newEnvLayer() *envLayer {
	v := viper.New()
	v.AllowEmptyEnv(true)
	return &envLayer{v: v}
}

// lookup returns the override of the variable name, if set (even if empty).
func (e *envLayer) lookup(name string) (string, bool) {
	key := strings.ToLower(name)
	if err := e.v.BindEnv(key, name); err != nil {
		return "", false
	}
	if !e.v.IsSet(key) {
		return "", false
	}
	return e.v.GetString(key), true
}

// envName joins a variable-name prefix and a key or host name:
// envName("SFTPWATCHD_HOSTS", "partner-2") = "SFTPWATCHD_HOSTS_PARTNER_2".
func envName(prefix, part string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('_')
	for _, r := range strings.ToUpper(part) {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
