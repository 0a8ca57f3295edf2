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
	CertificateFile          string        `mapstructure:"certificate_file"` // OpenSSH user certificate for private_key_file
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
	// Jump names another host to connect through (ssh's ProxyJump);
	// Address is then as seen from it.
	Jump string `mapstructure:"jump"`
	// JumpHost is the validated host Jump names, with its own JumpHost
	// resolved, so that a Host is self-contained (and a change of its jump
	// host changes it); nil without Jump. Set by Load.
	JumpHost *Host `mapstructure:"-"`
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

	// MinSize and MaxSize bound the size in bytes of the files the watch
	// covers, inclusive; 0 is no bound. Directories and links are not
	// affected. A file outside them is not covered (like an excluded one).
	MinSize int64 `mapstructure:"min_size"`
	MaxSize int64 `mapstructure:"max_size"`
	// RequireMarker, when set, holds a file back until PATH+RequireMarker
	// exists in the same directory (and the file has settled). Entries
	// whose name ends with it are markers: never covered, never events.
	RequireMarker string `mapstructure:"require_marker"`
	// RemoveMarker removes the marker remotely once the chain succeeded.
	RemoveMarker bool `mapstructure:"remove_marker"`
	// OnDeadLetter is what happens on the server when an event gives up.
	OnDeadLetter DeadLetterPolicy `mapstructure:"on_dead_letter"`
}

// DeadLetterPolicy is a watch's on_dead_letter block.
type DeadLetterPolicy struct {
	// MoveTo is an absolute remote directory: the file of an event that
	// gives up is moved to MoveTo/rel_path (parents created). "" leaves it.
	MoveTo string `mapstructure:"move_to"`
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
	// PermanentExitCodes are exit statuses that fail the event at once
	// (dead letter after one attempt) instead of being retried.
	PermanentExitCodes []int `mapstructure:"permanent_exit_codes"`

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
