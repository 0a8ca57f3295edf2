package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

// configFlag is the -c/--config value shared by every command that reads a
// config.
type configFlag struct{ path string }

// load finds and loads the config. Every problem is a usage error (exit 2).
func (c *configFlag) load() (*config.Config, error) {
	path, err := config.Find(c.path)
	if err != nil {
		return nil, usageErr(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageErr(err)
	}
	return cfg, nil
}

// newLogger builds the process logger from the log section. Logs go to
// stderr; stdout is kept for command output.
func newLogger(l config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(l.Level)
	if err != nil {
		return nil, usageErr(fmt.Errorf("log.level: %w", err))
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	if l.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level)), nil
}

// newInteractiveLogger is the logger of ls and check, which print their
// outcome as sentences: only errors are logged, unless log.level is debug.
func newInteractiveLogger(l config.Log, w io.Writer) (*zap.Logger, error) {
	if l.Level != "debug" {
		l.Level = "error"
	}
	return newLogger(l, w)
}

// selectWatches returns the named watches (all when names is empty); an
// unknown name is a usage error.
func selectWatches(cfg *config.Config, names []string) ([]config.Watch, error) {
	if len(names) == 0 {
		return cfg.Watches, nil
	}
	var out []config.Watch
	for _, n := range names {
		w, ok := cfg.Watch(n)
		if !ok {
			known := make([]string, 0, len(cfg.Watches))
			for _, w := range cfg.Watches {
				known = append(known, w.Name)
			}
			return nil, usageErr(fmt.Errorf("--watch %q: no such watch in %s (watches: %s)", n, cfg.File, strings.Join(known, ", ")))
		}
		out = append(out, *w)
	}
	return out, nil
}

// displayPath renders a remote name for line-oriented output: as it is when
// it is printable, Go-quoted when it holds control characters (a newline in a
// name must not forge an output line).
func displayPath(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError { // RuneError: a byte that is not UTF-8
			return strconv.Quote(s)
		}
	}
	return s
}
