package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// webhookDialTimeout bounds check --connect's TCP connect to a webhook.
const webhookDialTimeout = 5 * time.Second

// stateBucketWatches is the top-level bucket of state.db holding one bucket
// per watch (see internal/state's doc.go).
const stateBucketWatches = "watches"

// errStateInUse: a daemon holds the state dir, so its watches were not read.
var errStateInUse = errors.New("state dir is in use")

// storedWatches lists the watches the state in dir holds, opening it read
// only (it is neither created nor changed). A missing state file holds no
// watch; a state dir held by a running daemon is errStateInUse.
func storedWatches(dir string) ([]string, error) {
	path := filepath.Join(dir, state.FileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: state.DefaultLockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, errStateInUse
	}
	if err != nil {
		return nil, fmt.Errorf("read state file %q: %w", path, err)
	}
	defer db.Close()
	var names []string
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(stateBucketWatches))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil { // a nested bucket: one watch
				names = append(names, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read state file %q: %w", path, err)
	}
	sort.Strings(names)
	return names, nil
}

// leftoverWatches are the watches with state in cfg's state dir that cfg
// no longer configures.
func leftoverWatches(cfg *config.Config) ([]string, error) {
	stored, err := storedWatches(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, n := range stored {
		if _, ok := cfg.Watch(n); !ok {
			left = append(left, n)
		}
	}
	return left, nil
}

// actionKey names an action in --connect's messages: watches[NAME].actions[I].
func actionKey(w config.Watch, i int) string {
	return "watches[" + w.Name + "].actions[" + strconv.Itoa(i) + "]"
}

// checkLocalActions checks the local side of every action of w: each exec
// program exists and is executable, each download dest is (or can be
// created as) a writable directory, each webhook's host resolves and
// accepts a TCP connection (no request is sent).
func checkLocalActions(ctx context.Context, w config.Watch, progress func(string)) []error {
	var errs []error
	for i, a := range w.Actions {
		key := actionKey(w, i)
		var err error
		switch a.Type {
		case "exec":
			if strings.Contains(a.Command[0], "{{") {
				continue // the program is chosen per event
			}
			progress(key + ": looking up " + a.Command[0])
			err = checkProgram(a.Command[0])
			key += ".command[0]"
		case "download":
			progress(key + ": probing " + a.Dest)
			err = checkWritableDir(a.Dest)
			key += ".dest"
		case "webhook":
			progress(key + ": connecting to the webhook's host")
			err = checkReachable(ctx, a.URL)
			key += ".url"
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errs
}

// checkProgram resolves name as the exec action does (exec.Command: a name
// without a slash is looked up in PATH; no shell) and checks that it is an
// executable regular file.
func checkProgram(name string) error {
	p, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%w; install it or give its absolute path", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

// checkWritableDir checks that dir is a writable directory, or that its
// nearest existing ancestor is one (the download creates the rest): it
// creates and removes a temporary file there, leaving nothing behind.
func checkWritableDir(dir string) error {
	probe := dir
	for {
		fi, err := os.Stat(probe)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", probe)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			return err
		}
		probe = parent
	}
	f, err := os.CreateTemp(probe, ".sftpwatchd-check-*.tmp")
	if err != nil {
		if probe != dir {
			return fmt.Errorf("%s does not exist and cannot be created: %w", dir, err)
		}
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("remove probe file: %w", err)
	}
	return nil
}

// checkReachable resolves the host of a webhook URL and opens (and closes)
// a TCP connection to it; no request is sent. The error names the host and
// port only: a URL's path, query and userinfo may hold secrets.
func checkReachable(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("the URL cannot be parsed")
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	d := net.Dialer{Timeout: webhookDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return fmt.Errorf("dial tcp %s: %w", addr, oe.Err)
		}
		return err
	}
	return conn.Close()
}
