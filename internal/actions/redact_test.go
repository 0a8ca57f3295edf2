package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.example.com/T0K3N", "https://hooks.example.com:443/…"},
		{"http://hooks.example.com", "http://hooks.example.com:80/…"},
		{"https://user:pa55@hooks.example.com:8443/a/b?token=S3CR3T#frag", "https://hooks.example.com:8443/…"},
		{"HTTPS://Hooks.Example.com/x", "https://Hooks.Example.com:443/…"},
		{"http://[::1]:9000/x?y=z", "http://[::1]:9000/…"},
		{"https://[2001:db8::1]/x", "https://[2001:db8::1]:443/…"},
		{"http://user@127.0.0.1:1234", "http://127.0.0.1:1234/…"},
		{"https://hooks.slack.com/services/T000/B000/XXXXXXXX", "https://hooks.slack.com:443/…"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrubberCutsEverySecretPart(t *testing.T) {
	u, err := url.Parse("https://us3r:pa55word@h.example/T0K3N/sub%2Fpath?token=S3CR3T&x=v4lue%21#fr4gment")
	if err != nil {
		t.Fatal(err)
	}
	s := newScrubber(u, map[string]string{"Authorization": "Bearer B34RER", "X-Api-Key": "K3Y-VALUE"}, "HM4C-secret")
	for _, tc := range []struct{ in, want string }{
		{"Cannot POST /T0K3N/sub%2Fpath", "Cannot POST …"},
		{"bad token T0K3N", "bad token …"},
		{"query token=S3CR3T&x=v4lue%21 seen", "query … seen"},
		{"S3CR3T and v4lue!", "… and …"},
		{"user us3r pass pa55word", "user … pass …"},
		{"us3r:pa55word", "…"},
		{"auth Basic dXMzcjpwYTU1d29yZA==", "auth Basic …"},
		{"raw sub%2Fpath and v4lue%21", "raw … and …"},
		{"auth Bearer B34RER", "auth …"},
		{"token B34RER", "token …"},
		{"key K3Y-VALUE", "key …"},
		{"sig HM4C-secret", "sig …"},
		{"frag fr4gment", "frag …"},
		{"/T0K3N/sub/path decoded", "… decoded"},
		// Short values are left alone: they would mangle ordinary words.
		{"h.example 500 Internal Server Error", "h.example 500 Internal Server Error"},
	} {
		if got := s.Replace(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// hostileSecrets are the secret-bearing parts of hostileURL and the
// webhook's headers and secret.
var hostileSecrets = []string{"user", "pa55", "T0K3N", "S3CR3T", "B34RER-T0KEN", "HM4C-K3Y"}

// hostileURL is a webhook URL with a secret in every part: userinfo, path
// and query.
func hostileURL(srv *httptest.Server) string {
	return "http://user:pa55@" + srv.Listener.Addr().String() + "/T0K3N/path?token=S3CR3T"
}

func newHostileWebhook(t *testing.T, srv *httptest.Server, timeout time.Duration) (*Webhook, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	a, err := New(config.Action{Type: "webhook", URL: hostileURL(srv), Timeout: timeout, Secret: "HM4C-K3Y",
		Headers: map[string]string{"Authorization": "Bearer B34RER-T0KEN"}}, Deps{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	w := a.(*Webhook)
	t.Cleanup(func() { _ = w.Close() })
	return w, logs
}

// echo answers with status and a body that repeats everything the request
// carried, as many frameworks' error pages do.
func echo(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "Cannot POST "+r.URL.String()+" token="+r.URL.Query().Get("token")+
			" auth="+r.Header.Get("Authorization")+" basic="+u+":"+p)
	}
}

// assertNoSecret fails if any hostile secret is in the error or in a log
// line (message or any field).
func assertNoSecret(t *testing.T, err error, logs *observer.ObservedLogs) {
	t.Helper()
	if err == nil {
		t.Fatal("Run succeeded, want a failure")
	}
	texts := []string{err.Error()}
	for _, e := range logs.All() {
		texts = append(texts, e.Message)
		for k, v := range e.ContextMap() {
			texts = append(texts, k+"="+fmt.Sprint(v))
		}
	}
	for _, txt := range texts {
		for _, s := range hostileSecrets {
			if strings.Contains(txt, s) {
				t.Errorf("%q shows the secret %q", txt, s)
			}
		}
	}
	if !strings.Contains(err.Error(), "http://127.0.0.1:") || !strings.Contains(err.Error(), "/…") {
		t.Errorf("error does not show the redacted URL: %v", err)
	}
}

func TestWebhookHostileURLNeverShown(t *testing.T) {
	t.Run("500 echoing the request", func(t *testing.T) {
		var got atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.Header.Get("Authorization") + " " + r.URL.RequestURI())
			echo(http.StatusInternalServerError)(w, r)
		}))
		defer srv.Close()
		a, logs := newHostileWebhook(t, srv, 0)
		err := a.Run(context.Background(), hookEvent())
		// The receiver did get the configured header, path and query.
		if g := got.Load(); g != "Bearer B34RER-T0KEN /T0K3N/path?token=S3CR3T" {
			t.Errorf("receiver got %q", g)
		}
		if IsPermanent(err) {
			t.Errorf("500 is permanent: %v", err)
		}
		assertNoSecret(t, err, logs)
		if !strings.Contains(err.Error(), "Cannot POST …") {
			t.Errorf("the receiver's body is not shown (scrubbed): %v", err)
		}
	})
	t.Run("400 echoing the request", func(t *testing.T) {
		srv := httptest.NewServer(echo(http.StatusBadRequest))
		defer srv.Close()
		a, logs := newHostileWebhook(t, srv, 0)
		err := a.Run(context.Background(), hookEvent())
		if !IsPermanent(err) {
			t.Errorf("400 is not permanent: %v", err)
		}
		assertNoSecret(t, err, logs)
	})
	t.Run("hangs", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		a, logs := newHostileWebhook(t, srv, 200*time.Millisecond)
		err := a.Run(context.Background(), hookEvent())
		if !errors.Is(err, context.DeadlineExceeded) || IsPermanent(err) {
			t.Errorf("err = %v, want a retryable deadline", err)
		}
		assertNoSecret(t, err, logs)
	})
	t.Run("closes the connection", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		a, logs := newHostileWebhook(t, srv, 0)
		err := a.Run(context.Background(), hookEvent())
		var ue *url.Error
		if errors.As(err, &ue) || IsPermanent(err) {
			t.Errorf("err = %#v, want a retryable error without the *url.Error", err)
		}
		assertNoSecret(t, err, logs)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(echo(http.StatusOK))
		srv.Close()
		a, logs := newHostileWebhook(t, srv, 0)
		err := a.Run(context.Background(), hookEvent())
		var ne net.Error
		if !errors.As(err, &ne) || IsPermanent(err) {
			t.Errorf("err = %v, want a retryable net.Error", err)
		}
		assertNoSecret(t, err, logs)
	})
	t.Run("redirects", func(t *testing.T) {
		var followed atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			followed.Add(1)
		}))
		defer target.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example:8080/T0K3N/next?token=S3CR3T", http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		a, logs := newHostileWebhook(t, srv, 0)
		err := a.Run(context.Background(), hookEvent())
		if !IsPermanent(err) {
			t.Errorf("307 is not permanent: %v", err)
		}
		if !strings.Contains(err.Error(), "elsewhere.example:8080") {
			t.Errorf("error does not name the Location's host: %v", err)
		}
		assertNoSecret(t, err, logs)
		if followed.Load() != 0 {
			t.Error("the redirect was followed")
		}
	})
}

func TestWebhookUserinfoIsBasicAuth(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got <- fmt.Sprint(u, ":", p, " ", ok)
	}))
	defer srv.Close()
	a := newWebhook(t, config.Action{URL: hostileURL(srv)})
	if err := a.Run(context.Background(), hookEvent()); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "user:pa55 true" {
		t.Errorf("basic auth = %q, want user:pa55", g)
	}
}

func TestWebhookRedirectTarget(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{"https://other.example/p?q=1", "redirect to host other.example is not followed"},
		{"/relative/T0K3N", "redirect to host 127.0.0.1:"},
		{"", "redirect without a Location is not followed"},
		{"http://%zz", "redirect to a Location that does not parse is not followed"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.loc != "" {
				w.Header()["Location"] = []string{tc.loc}
			}
			w.WriteHeader(http.StatusFound)
		}))
		a := newWebhook(t, config.Action{URL: srv.URL + "/hook"})
		err := a.Run(context.Background(), hookEvent())
		srv.Close()
		if !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "T0K3N") {
			t.Errorf("Location %q: err = %v, want permanent naming %q", tc.loc, err, tc.want)
		}
	}
}

func TestWebhookConfigErrorsDoNotEchoURL(t *testing.T) {
	for _, raw := range []string{"https://user:S3CR3T@exa mple.com/", "ftp://user:S3CR3T@h/", "https://h:S3CR3T/"} {
		_, err := New(config.Action{Type: "webhook", URL: raw}, Deps{})
		if err == nil || strings.Contains(err.Error(), "S3CR3T") {
			t.Errorf("url %q: err = %v, want an error without the secret", raw, err)
		}
	}
}
