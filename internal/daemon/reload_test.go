package daemon

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

// reloadCase is one transition of Apply from the config before to the one
// after, and what must run then.
type reloadCase struct {
	name          string
	before, after func(f *fixture) *config.Config
	wantErr       string   // in Apply's error; then nothing may change
	want          []string // the watches running after
	kept          []string // watches whose instance (poller, state in memory) is the one from before
	restarted     []string // watches with a new instance; the old one stops
	keptPools     []string // hosts whose pool is the one from before
	newPools      []string // hosts with a new pool (added, or settings changed)
	probes        map[string]string
}

func reloadCases() []reloadCase {
	hosts := func(f *fixture) string { return f.host("h1", "", "u1") + f.host("h2", "", "u2") }
	cfg := func(f *fixture, hosts string, watches ...string) *config.Config {
		return f.config(time.Second, hosts, strings.Join(watches, ""))
	}
	return []reloadCase{{
		name:   "watch added",
		before: func(f *fixture) *config.Config { return cfg(f, hosts(f), f.watch("a", "h1", "")) },
		after: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		want:      []string{"a", "b"},
		kept:      []string{"a"},
		keptPools: []string{"h1"},
		newPools:  []string{"h2"},
	}, {
		name: "watch removed, its host unused",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		after:     func(f *fixture) *config.Config { return cfg(f, hosts(f), f.watch("a", "h1", "")) },
		want:      []string{"a"},
		kept:      []string{"a"},
		keptPools: []string{"h1"},
	}, {
		name: "watch removed, its host still used",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h1", ""))
		},
		after:     func(f *fixture) *config.Config { return cfg(f, hosts(f), f.watch("b", "h1", "")) },
		want:      []string{"b"},
		kept:      []string{"b"},
		keptPools: []string{"h1"},
	}, {
		name: "include changed",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h1", ""))
		},
		after: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", "    include: [\"*.txt\"]\n"), f.watch("b", "h1", ""))
		},
		want:      []string{"a", "b"},
		kept:      []string{"b"},
		restarted: []string{"a"},
		keptPools: []string{"h1"},
		probes:    map[string]string{"a": "probe.txt"},
	}, {
		name: "interval changed",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		after: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), strings.Replace(f.watch("a", "h1", ""), "interval: 100ms", "interval: 150ms", 1), f.watch("b", "h2", ""))
		},
		want:      []string{"a", "b"},
		kept:      []string{"b"},
		restarted: []string{"a"},
		keptPools: []string{"h1", "h2"},
	}, {
		name: "host user changed",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		after: func(f *fixture) *config.Config {
			return cfg(f, f.host("h1", "", "someone-else")+f.host("h2", "", "u2"), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		want:      []string{"a", "b"},
		kept:      []string{"b"},
		restarted: []string{"a"},
		keptPools: []string{"h2"},
		newPools:  []string{"h1"},
	}, {
		name: "host address changed",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h1", ""))
		},
		after: func(f *fixture) *config.Config {
			addr := strings.Replace(f.srv.Addr(), "127.0.0.1", "localhost", 1)
			return cfg(f, f.host("h1", addr, "u1"), f.watch("a", "h1", ""), f.watch("b", "h1", ""))
		},
		want:      []string{"a", "b"},
		restarted: []string{"a", "b"},
		newPools:  []string{"h1"},
	}, {
		// The config package validates templates; a watch that gets past
		// it and is still refused by its action must leave everything as
		// it was, the watch added alongside it included.
		name: "invalid new config",
		before: func(f *fixture) *config.Config {
			return cfg(f, hosts(f), f.watch("a", "h1", ""), f.watch("b", "h2", ""))
		},
		after: func(f *fixture) *config.Config {
			c := cfg(f, hosts(f), f.watch("a", "h1", "    include: [\"*.txt\"]\n"), f.watch("b", "h2", ""), f.watch("c", "h1", ""))
			for i := range c.Watches {
				if c.Watches[i].Name == "a" {
					c.Watches[i].Actions[0].Command = []string{"{{.NoSuchField}}"}
				}
			}
			return c
		},
		wantErr:   `watches "a": actions[0] (exec)`,
		want:      []string{"a", "b"},
		kept:      []string{"a", "b"},
		keptPools: []string{"h1", "h2"},
	}}
}

// TestReload runs each transition on a daemon that delivered one event per
// watch, and checks which watches and pools run after it, that kept
// watches keep their instance and restarted ones get a new one while the
// old one stops, that pools no longer used are closed, that every running
// watch delivers events afterwards, and that no watch delivers an event
// twice (a restarted watch resumes from the stored state).
func TestReload(t *testing.T) {
	for _, tc := range reloadCases() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := tc.before(f)
			if err := f.d.Start(before); err != nil {
				t.Fatalf("Start: %v", err)
			}
			for _, w := range before.Watches {
				name := w.Name
				eventually(t, 10*time.Second, "watch "+name+" baselines", func() bool { return f.scanCount(name) > 0 })
				f.put(name + "/before.csv")
				f.waitEvent(name, "before.csv")
			}
			old := f.snapshot()

			err := f.d.Apply(tc.after(f))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Apply: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Apply error = %v, want one containing %q", err, tc.wantErr)
			}
			cur := f.snapshot()

			if got := f.d.Watches(); !slices.Equal(got, tc.want) {
				t.Errorf("running watches %v, want %v", got, tc.want)
			}
			for _, name := range tc.kept {
				if cur.running[name] != old.running[name] || cur.running[name].w.poller != old.running[name].w.poller {
					t.Errorf("watch %s was restarted; its config did not change", name)
				}
			}
			for _, name := range tc.restarted {
				if cur.running[name] == nil || cur.running[name] == old.running[name] {
					t.Fatalf("watch %s kept its instance; its config changed", name)
				}
				if cur.running[name].w.poller == old.running[name].w.poller {
					t.Errorf("watch %s: the new instance has the old poller", name)
				}
				eventually(t, 5*time.Second, "the old instance of "+name+" stops", func() bool { return isStopped(old.running[name]) })
			}
			for name, r := range old.running {
				if !slices.Contains(tc.want, name) {
					eventually(t, 5*time.Second, "removed watch "+name+" stops", func() bool { return isStopped(r) })
				}
			}
			hosts := make([]string, 0, len(cur.pools))
			for h := range cur.pools {
				hosts = append(hosts, h)
			}
			sort.Strings(hosts)
			if wantHosts := sorted(append(slices.Clone(tc.keptPools), tc.newPools...)); !slices.Equal(hosts, wantHosts) {
				t.Errorf("pools for hosts %v, want %v", hosts, wantHosts)
			}
			for _, h := range tc.keptPools {
				if cur.pools[h] != old.pools[h] {
					t.Errorf("host %s got a new pool; its settings did not change", h)
				}
			}
			for _, h := range tc.newPools {
				if cur.pools[h] == nil || cur.pools[h] == old.pools[h] {
					t.Errorf("host %s kept its pool; it is new or its settings changed", h)
				}
			}
			for h, p := range old.pools {
				if cur.pools[h] != p {
					eventually(t, 5*time.Second, "the retired pool of "+h+" is closed", func() bool { return poolClosed(p) })
				}
			}
			for h, p := range cur.pools {
				if poolClosed(p) {
					t.Errorf("the pool of %s, in use, is closed", h)
				}
			}
			f.d.mu.Lock()
			retired := len(f.d.retired)
			f.d.mu.Unlock()
			if retired != 0 && tc.wantErr != "" {
				t.Errorf("a refused reload retired %d pools", retired)
			}

			// Every watch that runs works: a restarted one once its old
			// instance stopped and it scanned (a changed filter may
			// re-baseline), an added one once it baselined.
			for _, name := range tc.want {
				if old.running[name] == nil || slices.Contains(tc.restarted, name) {
					n := f.scanCount(name)
					eventually(t, 10*time.Second, "the new instance of "+name+" scans", func() bool { return f.scanCount(name) > n })
				}
				probe := "probe.csv"
				if p, ok := tc.probes[name]; ok {
					probe = p
				}
				f.put(name + "/" + probe)
				f.waitEvent(name, probe)
				if n := f.events(name, "before.csv"); old.running[name] != nil && n != 1 {
					t.Errorf("watch %s delivered before.csv %d times, want once", name, n)
				}
			}
		})
	}
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
