package actions

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

const (
	// DefaultWebhookTimeout bounds one request when the config gives none.
	DefaultWebhookTimeout = 10 * time.Second
	// maxRetryAfter caps a receiver's Retry-After; the dispatcher's own
	// backoff policy applies on top.
	maxRetryAfter = 24 * time.Hour
	// webhookBodyLimit is how much of a response body is read before the
	// connection is given up rather than drained.
	webhookBodyLimit = 64 << 10
)

// Webhook POSTs the event JSON to a URL.
//
//   - type: webhook
//     url: https://hooks.example.com/sftp
//     headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
//     secret: ${HOOK_SECRET}      # HMAC-SHA256 signature of the body
//     timeout: 10s                # per request
//
// Headers: Content-Type: application/json, User-Agent: sftpwatchd/<version>,
// the configured headers, X-Sftpwatchd-Event: <type>,
// X-Sftpwatchd-Delivery: <event id> (the same on every redelivery) and, with
// a secret, X-Sftpwatchd-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>.
// A 2xx answer is success. 4xx other than 408, 425 and 429 fails permanently,
// and so does a 3xx: redirects are not followed (a signed POST is not re-sent
// elsewhere) and the error names the Location's host. Anything else (5xx,
// 408, 425, 429, timeouts, connection errors) is retried, honouring
// Retry-After (seconds or an HTTP date, capped at 24h).
//
// The URL's userinfo, path and query, the header values and the secret never
// appear in a log line or an error: the URL is shown as
// https://host:port/…, and what the receiver answers (status text, body) or
// the transport reports has every such value cut out before it is shown.
//
// Default events: all.
type Webhook struct {
	url       string // the real URL: for requests only, never shown
	shown     string // redactURL(url): for logs and errors
	scrub     *strings.Replacer
	user      *url.Userinfo // the URL's, sent as basic auth
	headers   http.Header
	secret    []byte
	timeout   time.Duration
	userAgent string
	events    eventSet
	transport *http.Transport
	log       *zap.Logger
}

var (
	_ Action = (*Webhook)(nil)
	_ Closer = (*Webhook)(nil)
)

// NewWebhook builds a webhook action with its own HTTP transport.
func NewWebhook(cfg config.Action, d Deps) (*Webhook, error) {
	// The URL is not quoted in these errors: it may carry credentials.
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("url: is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url: must be an absolute http:// or https:// URL")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("timeout: %s is negative", cfg.Timeout)
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		if !config.ValidHeaderName(k) {
			return nil, fmt.Errorf("headers: invalid header name %q", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("headers.%s: value contains a line break or NUL", k)
		}
		h.Set(k, v)
	}
	evs, err := newEventSet(cfg.Events, event.Types...)
	if err != nil {
		return nil, err
	}
	version := d.Version
	if version == "" {
		version = "dev"
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	w := &Webhook{
		url: u.String(), shown: redactURL(u), scrub: newScrubber(u, cfg.Headers, cfg.Secret), user: u.User,
		headers: h, timeout: cfg.Timeout, userAgent: "sftpwatchd/" + version,
		events: evs, transport: tr, log: loggerOrNop(d.Logger),
	}
	if cfg.Secret != "" {
		w.secret = []byte(cfg.Secret)
	}
	if w.timeout == 0 {
		w.timeout = DefaultWebhookTimeout
	}
	return w, nil
}

// Type implements Action.
func (*Webhook) Type() string { return "webhook" }

// Handles implements Action.
func (a *Webhook) Handles(t event.Type) bool { return a.events.has(t) }

// Close releases idle connections.
func (a *Webhook) Close() error {
	a.transport.CloseIdleConnections()
	return nil
}

// Sign returns the X-Sftpwatchd-Signature-256 value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Run implements Action.
func (a *Webhook) Run(ctx context.Context, ev *event.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return Permanent(fmt.Errorf("webhook %s: encode event %q: %w", a.shown, ev.ID, err))
	}
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook %s: %w", a.shown, a.redact(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", a.userAgent)
	for k, v := range a.headers {
		req.Header[k] = slices.Clone(v)
	}
	if a.user != nil && req.Header.Get("Authorization") == "" {
		// What an http.Client does with userinfo; the transport does not.
		pw, _ := a.user.Password()
		req.SetBasicAuth(a.user.Username(), pw)
	}
	if host := a.headers.Get("Host"); host != "" {
		req.Host = host
	}
	req.Header.Set("X-Sftpwatchd-Event", string(ev.Type))
	req.Header.Set("X-Sftpwatchd-Delivery", ev.ID)
	if a.secret != nil {
		req.Header.Set("X-Sftpwatchd-Signature-256", Sign(a.secret, body))
	}

	start := time.Now()
	// The transport, not an http.Client: a 3xx comes back as it is, with no
	// redirect processed (a Client parses Location even when told not to
	// follow it).
	resp, err := a.transport.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("webhook %s: %w", a.shown, ctx.Err())
		}
		if rctx.Err() != nil {
			return fmt.Errorf("webhook %s: no answer within %s: %w", a.shown, a.timeout, rctx.Err())
		}
		return fmt.Errorf("webhook %s: %w", a.shown, a.redact(err))
	}
	snippet := a.scrub.Replace(readSnippet(resp.Body))
	resp.Body.Close()
	status := a.scrub.Replace(resp.Status)
	fields := []zap.Field{zap.String("id", ev.ID), zap.String("url", a.shown), zap.Int("status", resp.StatusCode),
		zap.Duration("duration", time.Since(start))}

	code := resp.StatusCode
	if code >= 200 && code < 300 {
		a.log.Debug("webhook delivered", fields...)
		return nil
	}
	a.log.Warn("webhook refused", append(fields, zap.String("body", snippet))...)
	if code >= 300 && code < 400 {
		return Permanent(fmt.Errorf("webhook %s: %s: redirect %s is not followed", a.shown, status, redirectTarget(resp)))
	}
	err = fmt.Errorf("webhook %s: %s", a.shown, status)
	if snippet != "" {
		err = fmt.Errorf("%w: %s", err, snippet)
	}
	switch {
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout &&
		code != http.StatusTooEarly && code != http.StatusTooManyRequests:
		return Permanent(err)
	}
	if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		return &RetryAfterError{Err: err, After: after}
	}
	return err
}

// redirectTarget says where a 3xx points: "to host H", the Location's host
// (a relative Location is the webhook's own), never its path or query.
func redirectTarget(resp *http.Response) string {
	loc, err := resp.Location()
	switch {
	case errors.Is(err, http.ErrNoLocation):
		return "without a Location"
	case err != nil || loc.Host == "":
		return "to a Location that does not parse"
	}
	return "to host " + loc.Host
}

// readSnippet drains up to webhookBodyLimit bytes (so the connection can be
// reused) and returns the first few hundred, trimmed, for messages.
func readSnippet(r io.Reader) string {
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(r, webhookBodyLimit))
	s := b.Bytes()
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(s), "?"))
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// A date in the past means no delay; values are capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	return min(max(d, 0), maxRetryAfter), true
}
