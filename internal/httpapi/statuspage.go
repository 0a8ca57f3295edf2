package httpapi

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
)

// StatusSource returns the status of every watch and host for the status
// page (the daemon's admin.Ops Status).
type StatusSource func(ctx context.Context) (admin.Status, error)

// statusRefresh is the page's meta refresh, in seconds (SPEC: 5–10 s).
const statusRefresh = 5

// pageData is what the status page template renders.
type pageData struct {
	Refresh int
	Now     string
	Err     string
	Watches []pageWatch
	Hosts   []admin.HostStatus
}

type pageWatch struct {
	admin.WatchStatus
	LastTime, Result, Took, Entries, Error, Next string
	Bad                                          bool
}

// statusTmpl is the page: server-rendered, no script, every value escaped
// by html/template.
var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sftpwatchd status</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.2em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em}
p.meta{color:#666;margin:0 0 1em;font-size:.9em}
table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right}
td.err{color:#a00;word-break:break-word;max-width:28em}
tr.bad td{background:#fff3f3}
.ok{color:#060}.partial{color:#a60}.error{color:#a00;font-weight:bold}
nav a{margin-right:1em}
</style></head><body>
<h1>sftpwatchd</h1>
<p class="meta">{{.Now}} · refreshes every {{.Refresh}} s ·
<nav style="display:inline"><a href="metrics">metrics</a><a href="readyz">readyz</a><a href="api/v1/status">status JSON</a><a href="api/v1/pending">pending</a><a href="api/v1/deadletters">dead letters</a></nav></p>
{{if .Err}}<p class="error">status unavailable: {{.Err}}</p>{{end}}
<h2>Watches</h2>
<table><thead><tr><th>watch</th><th>host</th><th>path</th><th>last scan</th><th>result</th><th>took</th><th>entries</th><th>settling</th><th>pending</th><th>dead letters</th><th>next scan</th><th>last error</th></tr></thead><tbody>
{{range .Watches}}<tr{{if .Bad}} class="bad"{{end}}><td>{{.Watch}}</td><td>{{.Host}}</td><td>{{.Path}}</td><td>{{.LastTime}}</td><td class="{{.Result}}">{{.Result}}</td><td class="n">{{.Took}}</td><td class="n">{{.Entries}}</td><td class="n">{{.Settling}}</td><td class="n">{{.Pending}}</td><td class="n">{{.DeadLetters}}</td><td>{{.Next}}</td><td class="err">{{.Error}}</td></tr>
{{else}}<tr><td colspan="12">no watches</td></tr>{{end}}
</tbody></table>
<h2>Hosts</h2>
<table><thead><tr><th>host</th><th>connections</th><th>last dial error</th></tr></thead><tbody>
{{range .Hosts}}<tr><td>{{.Host}}</td><td class="n">{{.Connections}}</td><td class="err">{{.LastDialError}}</td></tr>
{{else}}<tr><td colspan="3">no hosts</td></tr>{{end}}
</tbody></table>
</body></html>
`))

func pageTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	data := pageData{Refresh: statusRefresh, Now: s.opts.Now().UTC().Format("2006-01-02 15:04:05Z")}
	st, err := s.opts.Status(r.Context())
	if err != nil {
		data.Err = err.Error()
	}
	for _, ws := range st.Watches {
		pw := pageWatch{WatchStatus: ws, LastTime: "never", Result: "–", Took: "–", Entries: "–", Next: pageTime(ws.NextScan)}
		if ls := ws.LastScan; ls != nil {
			pw.LastTime, pw.Result = pageTime(&ls.Time), ls.Result
			pw.Took = strconv.FormatFloat(ls.DurationSeconds, 'f', 2, 64) + " s"
			pw.Entries, pw.Error = strconv.Itoa(ls.Entries), ls.Error
			pw.Bad = ls.Result == "error"
		}
		pw.Bad = pw.Bad || ws.DeadLetters > 0
		data.Watches = append(data.Watches, pw)
	}
	data.Hosts = st.Hosts
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := statusTmpl.Execute(w, data); err != nil {
		s.log.Debug("write status page", zap.Error(err))
	}
}
