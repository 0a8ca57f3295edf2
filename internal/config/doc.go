// Package config loads, defaults and validates the sftpwatchd YAML
// configuration (SPEC section 3). It knows nothing about run time: it turns a
// file plus the environment into a validated *Config or a list of problems,
// each naming its key path.
package config
