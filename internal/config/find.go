package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ErrNotFound is wrapped by Find when no config file exists.
var ErrNotFound = errors.New("no config file found")

// The places Find looks at when neither -c nor $SFTPWATCHD_CONFIG names a
// file, in order.
const (
	LocalConfigFile  = "./sftpwatchd.yaml"
	SystemConfigFile = "/etc/sftpwatchd/config.yaml"
)

// Find returns the config file to load: flagPath (-c/--config) if given,
// else $SFTPWATCHD_CONFIG if set, else the first of ./sftpwatchd.yaml and
// /etc/sftpwatchd/config.yaml that exists. A file named by the flag or the
// variable must exist: Find does not fall back past it. The error when
// nothing is found names every place tried and wraps ErrNotFound.
func Find(flagPath string) (string, error) {
	return find(flagPath, os.Getenv("SFTPWATCHD_CONFIG"), []string{LocalConfigFile, SystemConfigFile})
}

func find(flagPath, envPath string, candidates []string) (string, error) {
	switch {
	case flagPath != "":
		return flagPath, checkFile(flagPath, "-c/--config")
	case envPath != "":
		return envPath, checkFile(envPath, "$SFTPWATCHD_CONFIG")
	}
	for _, c := range candidates {
		err := checkFile(c, "")
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%w: tried %s (no -c/--config given, $SFTPWATCHD_CONFIG not set); pass -c FILE",
		ErrNotFound, strings.Join(candidates, ", "))
}

// checkFile reports whether path is a readable config file candidate.
func checkFile(path, from string) error {
	if from != "" {
		from = " (from " + from + ")"
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &missingError{path: path, from: from}
	case err != nil:
		return fmt.Errorf("config file %q%s: %w", path, from, err)
	case fi.IsDir():
		return fmt.Errorf("config file %q%s is a directory", path, from)
	}
	return nil
}

// missingError is a config file that does not exist. It matches both
// ErrNotFound and fs.ErrNotExist.
type missingError struct{ path, from string }

func (e *missingError) Error() string {
	return fmt.Sprintf("config file %q%s does not exist", e.path, e.from)
}

func (e *missingError) Is(target error) bool {
	return target == ErrNotFound || target == fs.ErrNotExist
}
