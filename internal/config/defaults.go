package config

import (
	"os"
	"strings"
	"time"
)

// Defaults of SPEC section 3, all in one place. A setting the document does
// not mention gets its default; a setting the document sets to the zero value
// ("", 0, false) keeps that value and is validated as such — so
// `http: {listen: ""}` disables the HTTP server while leaving listen out
// serves on DefaultHTTPListen.
const (
	DefaultStateDir        = "/var/lib/sftpwatchd" // unless $STATE_DIRECTORY is set
	DefaultShutdownTimeout = 30 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
	DefaultHTTPListen      = "127.0.0.1:9717"

	DefaultSSHPort               = "22"
	DefaultMaxConnections        = 4
	DefaultMaxConcurrentRequests = 64 // raised to max_connections when that is higher
	DefaultConnectTimeout        = 10 * time.Second
	DefaultRequestTimeout        = 2 * time.Minute
	DefaultKeepalive             = 30 * time.Second
	DefaultKnownHostsFile        = "~/.ssh/known_hosts" // only without another host key policy

	DefaultRecursive      = true
	DefaultLister         = ListerSFTP
	DefaultInterval       = 30 * time.Second // settle defaults to the interval
	DefaultInitial        = "baseline"
	DefaultConcurrency    = 4
	DefaultMaxAttempts    = 10
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 5 * time.Minute

	DefaultPreserveMtime  = true
	DefaultOnDelete       = "keep"
	DefaultExecTimeout    = 5 * time.Minute
	DefaultWebhookTimeout = 10 * time.Second
)

// The listers a watch's lister setting can name.
const (
	ListerSFTP = "sftp" // concurrent SFTP directory reads
	ListerFind = "find" // one GNU find over an SSH session
)

// DefaultTypes is the default of a watch's types: every entry type.
func DefaultTypes() []string { return []string{"file", "dir", "symlink"} }

// DefaultWatchEvents is the default of a watch's events: every type the
// watch can produce.
func DefaultWatchEvents(detectRenames bool) []string {
	ev := []string{"create", "modify", "delete"}
	if detectRenames {
		ev = append(ev, "rename")
	}
	return ev
}

// DefaultActionEvents is the default of an action's events: download runs
// for create and modify (and delete with on_delete: remove), move and delete
// for create and modify, exec, webhook and log for every type.
func DefaultActionEvents(a *Action) []string {
	switch a.Type {
	case "download":
		// rename too (deviation from SPEC §3, see README changelog): with
		// detect_renames a renamed file's content is at a new path that dest
		// must get; a watch without detect_renames never emits one.
		if a.OnDelete == "remove" {
			return []string{"create", "modify", "delete", "rename"}
		}
		return []string{"create", "modify", "rename"}
	case "move", "delete":
		return []string{"create", "modify"}
	}
	return []string{"create", "modify", "delete", "rename"}
}

// defaultStateDir is $STATE_DIRECTORY (set by systemd's StateDirectory=; the
// first entry when it lists several) or DefaultStateDir.
func defaultStateDir() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	return DefaultStateDir
}

// applyDefaults fills every setting the document left out. set reports
// whether a key path was given (by the document or the environment).
func applyDefaults(c *Config, set func(string) bool) {
	if !set("state_dir") {
		c.StateDir = defaultStateDir()
	}
	if !set("shutdown_timeout") {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if !set("log.level") {
		c.Log.Level = DefaultLogLevel
	}
	if !set("log.format") {
		c.Log.Format = DefaultLogFormat
	}
	if !set("http.listen") {
		c.HTTP.Listen = DefaultHTTPListen
	}
	for name, h := range c.Hosts {
		applyHostDefaults(&h, name, join("hosts", name), set)
		c.Hosts[name] = h
	}
	for i := range c.Watches {
		applyWatchDefaults(&c.Watches[i], index("watches", i), set)
	}
}

func applyHostDefaults(h *Host, name, key string, set func(string) bool) {
	h.Name = name
	if !set(key + ".max_connections") {
		h.MaxConnections = DefaultMaxConnections
	}
	if !set(key + ".max_concurrent_requests") {
		h.MaxConcurrentRequests = max(DefaultMaxConcurrentRequests, h.MaxConnections)
	}
	if !set(key + ".connect_timeout") {
		h.ConnectTimeout = DefaultConnectTimeout
	}
	if !set(key + ".request_timeout") {
		h.RequestTimeout = DefaultRequestTimeout
	}
	if !set(key + ".keepalive") {
		h.Keepalive = DefaultKeepalive
	}
	if h.KnownHostsFile == "" && h.HostKeyFingerprint == "" && !h.InsecureIgnoreHostKey {
		h.KnownHostsFile = DefaultKnownHostsFile // "~" is resolved with the other paths
	}
}

func applyWatchDefaults(w *Watch, key string, set func(string) bool) {
	if !set(key + ".recursive") {
		w.Recursive = DefaultRecursive
	}
	if !set(key + ".lister") {
		w.Lister = DefaultLister
	}
	if len(w.Types) == 0 {
		w.Types = DefaultTypes()
	}
	if !set(key + ".interval") {
		w.Interval = DefaultInterval
	}
	if !set(key + ".settle") {
		w.Settle = max(w.Interval, 0) // a bad interval is reported once, not again as settle
	}
	if !set(key + ".initial") {
		w.Initial = DefaultInitial
	}
	if len(w.Events) == 0 {
		w.Events = DefaultWatchEvents(w.DetectRenames)
	}
	if !set(key + ".concurrency") {
		w.Concurrency = DefaultConcurrency
	}
	if !set(key + ".retry.max_attempts") {
		w.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if !set(key + ".retry.initial_backoff") {
		w.Retry.InitialBackoff = DefaultInitialBackoff
	}
	if !set(key + ".retry.max_backoff") {
		w.Retry.MaxBackoff = max(DefaultMaxBackoff, w.Retry.InitialBackoff)
	}
	for i := range w.Actions {
		applyActionDefaults(&w.Actions[i], index(key+".actions", i), set)
	}
}

func applyActionDefaults(a *Action, key string, set func(string) bool) {
	switch a.Type {
	case "download":
		if !set(key + ".preserve_mtime") {
			a.PreserveMtime = DefaultPreserveMtime
		}
		if !set(key + ".on_delete") {
			a.OnDelete = DefaultOnDelete
		}
	case "exec":
		if !set(key + ".timeout") {
			a.Timeout = DefaultExecTimeout
		}
	case "webhook":
		if !set(key + ".timeout") {
			a.Timeout = DefaultWebhookTimeout
		}
	}
	if len(a.Events) == 0 {
		a.Events = DefaultActionEvents(a)
	}
}
