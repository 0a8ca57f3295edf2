// Package config loads, defaults and validates the sftpwatchd YAML
// configuration (SPEC section 3). It knows nothing about run time: it turns a
// file plus the environment into a validated *Config or a list of problems,
// each naming its key path.
package config

import "time"

// Config is the whole validated configuration. Secrets referenced through
// *_file keys have been read into their plain fields; ${VAR} references have
// been expanded.
type Config struct {
	StateDir        string          `mapstructure:"state_dir"`
	ShutdownTimeout time.Duration   `mapstructure:"shutdown_timeout"`
	Log             Log             `mapstructure:"log"`
	HTTP            HTTP            `mapstructure:"http"`
	Hosts           map[string]Host `mapstructure:"hosts"`
	Watches         []Watch         `mapstructure:"watches"`

	// File is the path the config was loaded from ("" when built in code).
	File string `mapstructure:"-"`
}

// Log configures the zap logger.
type Log struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // json | console
}

// HTTP configures the metrics and health server.
type HTTP struct {
	Listen string `mapstructure:"listen"` // "" disables the server
	// AdminTokenFile holds the bearer token that enables the mutating
	// /api/v1/ routes (scan, dead-letter retry and discard); "" leaves
	// /api/v1/ read-only.
	AdminTokenFile string `mapstructure:"admin_token_file"`
	// AdminToken is the content of AdminTokenFile, read by Load.
	AdminToken string `mapstructure:"-"`
}

// Host is one SFTP server watches can refer to by name.
type Host struct {
	Name                     string        `mapstructure:"-"`       // the key under hosts:
	Address                  string        `mapstructure:"address"` // host:port, port defaulted to 22
	User                     string        `mapstructure:"user"`
	Password                 string        `mapstructure:"password"`
	PasswordFile             string        `mapstructure:"password_file"`
	PrivateKeyFile           string        `mapstructure:"private_key_file"`
	PrivateKeyPassphrase     string        `mapstructure:"private_key_passphrase"`
	PrivateKeyPassphraseFile string        `mapstructure:"private_key_passphrase_file"`
	Agent                    bool          `mapstructure:"agent"`
	KnownHostsFile           string        `mapstructure:"known_hosts_file"`
	HostKeyFingerprint       string        `mapstructure:"host_key_fingerprint"`
	InsecureIgnoreHostKey    bool          `mapstructure:"insecure_ignore_host_key"`
	Ciphers                  []string      `mapstructure:"ciphers"`
	MaxConnections           int           `mapstructure:"max_connections"`
	MaxConcurrentRequests    int           `mapstructure:"max_concurrent_requests"`
	ConnectTimeout           time.Duration `mapstructure:"connect_timeout"`
	RequestTimeout           time.Duration `mapstructure:"request_timeout"`
	Keepalive                time.Duration `mapstructure:"keepalive"`
}

// Watch is one watched remote tree.
type Watch struct {
	Name           string        `mapstructure:"name"`
	Host           string        `mapstructure:"host"`
	Path           string        `mapstructure:"path"`
	Recursive      bool          `mapstructure:"recursive"`
	MaxDepth       int           `mapstructure:"max_depth"`
	Include        []string      `mapstructure:"include"`
	Exclude        []string      `mapstructure:"exclude"`
	Types          []string      `mapstructure:"types"` // file | dir | symlink
	FollowSymlinks bool          `mapstructure:"follow_symlinks"`
	Lister         string        `mapstructure:"lister"` // sftp | find
	Interval       time.Duration `mapstructure:"interval"`
	Settle         time.Duration `mapstructure:"settle"`
	MinAge         time.Duration `mapstructure:"min_age"`
	Initial        string        `mapstructure:"initial"` // baseline | emit
	Events         []string      `mapstructure:"events"`
	DetectRenames  bool          `mapstructure:"detect_renames"`
	Concurrency    int           `mapstructure:"concurrency"`
	Retry          Retry         `mapstructure:"retry"`
	Actions        []Action      `mapstructure:"actions"`
}

// Retry is a watch's retry policy for failing action steps.
type Retry struct {
	MaxAttempts    int           `mapstructure:"max_attempts"`
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	MaxBackoff     time.Duration `mapstructure:"max_backoff"`
}

// Action is one step of a watch's chain. Only the fields of its Type are
// allowed to be set (validated); the rest stay zero.
type Action struct {
	Type   string   `mapstructure:"type"` // download | exec | webhook | move | delete | log
	Events []string `mapstructure:"events"`

	// download
	Dest          string `mapstructure:"dest"`
	Flatten       bool   `mapstructure:"flatten"`
	PreserveMtime bool   `mapstructure:"preserve_mtime"`
	OnDelete      string `mapstructure:"on_delete"` // keep | remove

	// exec
	Command []string          `mapstructure:"command"`
	Env     map[string]string `mapstructure:"env"`
	Dir     string            `mapstructure:"dir"`
	// InheritEnv gives the program the daemon's whole environment instead
	// of the minimal one (PATH, LANG, TZ, HOME).
	InheritEnv bool `mapstructure:"inherit_env"`

	// exec, webhook
	Timeout time.Duration `mapstructure:"timeout"`

	// webhook
	URL     string            `mapstructure:"url"`
	Headers map[string]string `mapstructure:"headers"`
	Secret  string            `mapstructure:"secret"`
	// SecretFile names a file holding the secret (trailing newline trimmed);
	// the loader reads it into Secret. Setting both is an error.
	SecretFile string `mapstructure:"secret_file"`

	// move
	To string `mapstructure:"to"`
}
