package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

// maxCompletionConfig bounds what shell completion reads of a config.
const maxCompletionConfig = 16 << 20

// registerWatchCompletion makes the shell complete --watch of cmd with the
// names of the watches configured in the config that -c/--config (or the
// usual search) finds.
func registerWatchCompletion(cmd *cobra.Command, cfg *configFlag) {
	_ = cmd.RegisterFlagCompletionFunc("watch", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return configuredWatchNames(cfg.path, prefix), cobra.ShellCompDirectiveNoFileComp
	})
}

// configuredWatchNames lists the watch names of the config starting with
// prefix. It reads only the YAML's watches[].name, not the whole config
// through the loader: completing must work before the ${VAR}s the config
// references are exported, and never print an error into the shell.
func configuredWatchNames(flagPath, prefix string) []string {
	path, err := config.Find(flagPath)
	if err != nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var doc struct {
		Watches []struct {
			Name string `yaml:"name"`
		} `yaml:"watches"`
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCompletionConfig))
	if err != nil || yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var names []string
	for _, w := range doc.Watches {
		if w.Name != "" && strings.HasPrefix(w.Name, prefix) {
			names = append(names, w.Name)
		}
	}
	return names
}
