package actions

import (
	"cmp"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
)

// minScrubbed is the shortest value the scrubber cuts out: shorter ones
// (a one-letter user name, an "api" path segment) would mangle ordinary
// words of a message and are no secret anyway.
const minScrubbed = 4

// redactURL shows a webhook URL without the parts that may be secret
// (userinfo, path, query, fragment), always with its port:
// "https://hooks.example.com:443/…".
func redactURL(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port) + "/…"
}

// newScrubber returns a replacer that cuts every secret-bearing value of a
// webhook out of text the daemon did not write (a receiver's status line or
// body, which often echo the request; a transport error): the user name and
// password (also as basic auth), the path and its segments, the query and its
// values, and the fragment of u (raw and decoded), every header value and its
// words, and the secret.
func newScrubber(u *url.URL, headers map[string]string, secret string) *strings.Replacer {
	var vals []string
	add := func(vs ...string) {
		for _, v := range vs {
			if len(v) >= minScrubbed {
				vals = append(vals, v)
			}
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		add(u.User.Username(), pw, u.User.String(),
			base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))) // as basic auth
	}
	for _, p := range []string{u.Path, u.EscapedPath()} {
		add(p)
		add(strings.Split(p, "/")...)
	}
	add(u.RawQuery, u.Fragment, u.EscapedFragment())
	for _, kv := range strings.Split(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		add(v) // as sent, still escaped
	}
	for _, vs := range u.Query() {
		add(vs...)
	}
	for _, v := range headers {
		add(v)
		add(strings.Fields(v)...)
	}
	add(secret)
	// Longest first, so a value is cut out whole rather than around a
	// shorter one it contains.
	slices.SortFunc(vals, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	vals = slices.Compact(vals)
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "…")
	}
	return strings.NewReplacer(pairs...)
}

// redactedError carries an error whose text has been scrubbed; errors.Is and
// errors.As still reach the original (a timeout stays a net.Error).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact drops the *url.Error net/http wraps every failure in (its text
// quotes the whole URL) and scrubs what is left.
func (a *Webhook) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &redactedError{msg: a.scrub.Replace(err.Error()), err: err}
}
