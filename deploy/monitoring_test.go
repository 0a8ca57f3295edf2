package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// specMetrics are the metrics of SPEC section 5 (without the sftpwatchd_
// prefix) and whether each is a histogram (which adds _bucket, _sum, _count
// series).
var specMetrics = map[string]bool{
	"scans_total": false, "scan_duration_seconds": true, "watch_entries": false,
	"watch_bytes": false, "events_total": false, "events_pending": false,
	"actions_total": false, "action_duration_seconds": true, "dead_letters": false,
	"last_scan_success_timestamp_seconds": false, "last_event_timestamp_seconds": false,
	"download_bytes_total": false, "sftp_connections": false, "sftp_dials_total": false,
	"build_info": false,
	// SPEC section 7's "More metrics", and the interval the alerts compare with
	// (a SPEC addition, see the README's changelog).
	"reloads_total": false, "watch_interval_seconds": false,
}

var metricRef = regexp.MustCompile(`\bsftpwatchd_[a-z0-9_]+`)

// checkMetricNames reports every sftpwatchd_ name in expr that is not a
// series of a SPEC metric, and returns the SPEC metrics expr uses.
func checkMetricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	var used []string
	for _, ref := range metricRef.FindAllString(expr, -1) {
		name := strings.TrimPrefix(ref, "sftpwatchd_")
		if _, ok := specMetrics[name]; ok {
			used = append(used, name)
			continue
		}
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suf)
		}
		if hist, ok := specMetrics[base]; ok && hist && base != name {
			used = append(used, base)
			continue
		}
		t.Errorf("%s: %s is not a metric of SPEC section 5 (expr %q)", where, ref, expr)
	}
	return used
}

type dashboard struct {
	SchemaVersion int    `json:"schemaVersion"`
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Panels        []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	return d
}

// dashboardExprs returns every query of the dashboard: panel targets and
// variable definitions.
func dashboardExprs(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out["variable "+v.Name] = v.Definition
		}
	}
	return out
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d uid %q title %q", d.SchemaVersion, d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		switch v.Name {
		case "datasource":
			if v.Type != "datasource" || string(v.Query) != `"prometheus"` {
				t.Errorf("datasource variable: type %q query %s", v.Type, v.Query)
			}
		case "watch":
			if v.Definition != `label_values(sftpwatchd_scans_total{job=~"$job",instance=~"$instance"}, watch)` {
				t.Errorf("watch variable: %q", v.Definition)
			}
		}
	}
	if vars["datasource"] == "" || vars["watch"] == "" {
		t.Fatalf("variables %v: want datasource and watch", vars)
	}

	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the $datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
	}

	used := map[string]bool{}
	for where, expr := range dashboardExprs(t, d) {
		for _, m := range checkMetricNames(t, where, expr) {
			used[m] = true
			// Metrics labelled by watch follow the $watch variable in panels.
			byHost := m == "sftp_connections" || m == "sftp_dials_total" || m == "build_info" || m == "reloads_total"
			if strings.HasPrefix(where, "panel") && !byHost && !strings.Contains(expr, `watch=~"$watch"`) {
				t.Errorf("%s shows sftpwatchd_%s but ignores $watch: %q", where, m, expr)
			}
		}
	}
	// Several jobs and instances may export the same watch names: every
	// query filters by $job and $instance, and no sum merges them.
	sumBy := regexp.MustCompile(`sum by \(([^)]*)\)`)
	for where, expr := range dashboardExprs(t, d) {
		if !strings.HasPrefix(where, "panel") {
			continue
		}
		if !strings.Contains(expr, `job=~"$job"`) || !strings.Contains(expr, `instance=~"$instance"`) {
			t.Errorf("%s ignores $job or $instance: %q", where, expr)
		}
		for _, m := range sumBy.FindAllStringSubmatch(expr, -1) {
			if !strings.Contains(m[1], "job") || !strings.Contains(m[1], "instance") {
				t.Errorf("%s sums across jobs or instances: %q", where, m[0])
			}
		}
	}
	for m := range specMetrics {
		if !used[m] {
			t.Errorf("no panel shows sftpwatchd_%s", m)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record,omitempty"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for,omitempty"`
			Labels      map[string]string `yaml:"labels,omitempty"`
			Annotations map[string]string `yaml:"annotations,omitempty"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRulesUseSpecMetrics(t *testing.T) {
	raw, err := os.ReadFile("monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			checkMetricNames(t, "alert "+r.Alert, r.Expr)
			if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
				t.Errorf("alert %s: severity %q", r.Alert, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or description", r.Alert)
			}
		}
	}
	want := []string{"SftpwatchdDeadLetters", "SftpwatchdDown", "SftpwatchdEventsPendingTooLong",
		"SftpwatchdNoSuccessfulScan", "SftpwatchdScanErrors"}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v", names, want)
	}
	// Every alert has a promtool unit test.
	tests, err := os.ReadFile("monitoring/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range want {
		if !bytes.Contains(tests, []byte("alertname: "+n+"\n")) {
			t.Errorf("alerts_test.yml does not test %s", n)
		}
	}
}

// TestDashboardQueriesParse has promtool parse every dashboard query, by
// checking them as recording rules with the Grafana variables filled in.
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool not found but CI is set (.ci/run installs Debian's prometheus package): %v", err)
		}
		t.Skipf("promtool not installed (apt-get install prometheus); skipping the PromQL syntax check: %v", err)
	}
	d := loadDashboard(t)
	fill := strings.NewReplacer("$__rate_interval", "5m", "$watch", ".*", "$instance", ".*", "$job", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(fill.Replace(tg.Expr)) // a JSON string is a YAML string
			fmt.Fprintf(&b, "      - record: dashboard:panel%d:%s\n        expr: %s\n", p.ID, tg.RefID, q)
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard queries: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", n); !strings.Contains(string(out), want) {
		t.Fatalf("promtool output lacks %q:\n%s", want, out)
	}
}
