package actions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func newWebhook(t *testing.T, cfg config.Action) *Webhook {
	t.Helper()
	cfg.Type = "webhook"
	a, err := New(cfg, Deps{Watch: "w", Host: "h", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	w := a.(*Webhook)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func hookEvent() *event.Event {
	return &event.Event{ID: "incoming-000000000042", Watch: "incoming", Host: "partner", Type: event.Create,
		Path: "/upload/a/b $(x).csv", RelPath: "a/b $(x).csv", Name: "b $(x).csv", EntryType: "file", Size: 1234,
		MTime: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Mode: "0644",
		DetectedAt: time.Date(2026, 11, 24, 10, 0, 31, 123456789, time.UTC)}
}

func TestWebhookRequest(t *testing.T) {
	type got struct {
		method string
		header http.Header
		body   []byte
	}
	reqs := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- got{r.Method, r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	secret := "s3cr3t"
	a := newWebhook(t, config.Action{URL: srv.URL + "/hook?x=1", Secret: secret,
		Headers: map[string]string{"Authorization": "Bearer tok", "X-Custom": "v"}})
	ev := hookEvent()
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	want, _ := json.Marshal(ev)
	if r.method != http.MethodPost || string(r.body) != string(want) {
		t.Fatalf("%s %s, want POST %s", r.method, r.body, want)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(r.body)
	for k, v := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "sftpwatchd/1.2.3",
		"X-Sftpwatchd-Event": "create", "X-Sftpwatchd-Delivery": "incoming-000000000042",
		"X-Sftpwatchd-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		"Authorization":              "Bearer tok", "X-Custom": "v",
	} {
		if g := r.header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}

	// Without a secret there is no signature header.
	b := newWebhook(t, config.Action{URL: srv.URL})
	if err := b.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; r.header.Get("X-Sftpwatchd-Signature-256") != "" {
		t.Error("signature sent without a secret")
	}
}

func TestWebhookStatusClasses(t *testing.T) {
	var mu sync.Mutex
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := status
		mu.Unlock()
		if s >= 300 && s < 400 {
			w.Header().Set("Location", "http://elsewhere.invalid/p4th?q=v4lue")
		}
		w.WriteHeader(s)
		_, _ = io.WriteString(w, "receiver says "+strconv.Itoa(s))
	}))
	defer srv.Close()
	a := newWebhook(t, config.Action{URL: srv.URL})
	for _, tc := range []struct {
		status int
		want   string // ok | permanent | retry
	}{
		{200, "ok"}, {201, "ok"}, {202, "ok"}, {204, "ok"},
		{301, "permanent"}, {302, "permanent"}, {307, "permanent"}, {308, "permanent"},
		{400, "permanent"}, {401, "permanent"}, {403, "permanent"}, {404, "permanent"}, {410, "permanent"},
		{422, "permanent"},
		{408, "retry"}, {425, "retry"}, {429, "retry"},
		{500, "retry"}, {502, "retry"}, {503, "retry"}, {504, "retry"},
	} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		err := a.Run(context.Background(), hookEvent())
		g := "ok"
		switch {
		case IsPermanent(err):
			g = "permanent"
		case err != nil:
			g = "retry"
		}
		if g != tc.want {
			t.Errorf("status %d: %s (%v), want %s", tc.status, g, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
			t.Errorf("status %d: error does not name it: %v", tc.status, err)
		}
		if tc.status >= 300 && tc.status < 400 {
			if msg := err.Error(); !strings.Contains(msg, "elsewhere.invalid") ||
				strings.Contains(msg, "p4th") || strings.Contains(msg, "v4lue") {
				t.Errorf("status %d: error should name the Location's host and nothing more: %v", tc.status, err)
			}
		}
	}
}

func TestWebhookRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var value string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		w.Header().Set("Retry-After", value)
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	a := newWebhook(t, config.Action{URL: srv.URL})
	set := func(v string) { mu.Lock(); value = v; mu.Unlock() }

	set("7")
	err := a.Run(context.Background(), hookEvent())
	if d, ok := RetryAfter(err); !ok || d != 7*time.Second || IsPermanent(err) {
		t.Fatalf("Retry-After 7: %v %v (%v)", d, ok, err)
	}
	set(time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat))
	err = a.Run(context.Background(), hookEvent())
	if d, ok := RetryAfter(err); !ok || d < 80*time.Second || d > 91*time.Second {
		t.Fatalf("Retry-After date: %v %v (%v)", d, ok, err)
	}
	set("garbage")
	if _, ok := RetryAfter(a.Run(context.Background(), hookEvent())); ok {
		t.Fatal("garbage Retry-After honoured")
	}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "120": 2 * time.Minute, "99999999999999999999": maxRetryAfter, "9999999999": maxRetryAfter,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second, "Wed, 31 Dec 2025 00:00:00 GMT": 0,
	} {
		if d, ok := parseRetryAfter(v, now); !ok || d != want {
			t.Errorf("parseRetryAfter(%q) = %v %v, want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "-5", "soon", "1.5"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
}

func TestWebhookHangingReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	a := newWebhook(t, config.Action{URL: srv.URL, Timeout: 300 * time.Millisecond})
	start := time.Now()
	err := a.Run(context.Background(), hookEvent())
	took := time.Since(start)
	if err == nil || IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want retryable deadline exceeded", err)
	}
	if took < 300*time.Millisecond || took > 3*time.Second {
		t.Fatalf("took %s with a 300ms timeout", took)
	}
}

func TestWebhookContextCancelAborts(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	a := newWebhook(t, config.Action{URL: srv.URL, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, hookEvent()) }()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWebhookConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := newWebhook(t, config.Action{URL: "http://" + addr + "/hook"})
	err = a.Run(context.Background(), hookEvent())
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
}

func TestWebhookConfigValidation(t *testing.T) {
	for _, c := range []config.Action{
		{URL: ""}, {URL: "ftp://x/"}, {URL: "/relative"}, {URL: "http://"},
		{URL: "http://x/", Headers: map[string]string{"Bad Name": "v"}},
		{URL: "http://x/", Headers: map[string]string{"X": "a\r\nInjected: 1"}},
		{URL: "http://x/", Events: []string{"created"}},
		{URL: "http://x/", Timeout: -time.Second},
	} {
		c.Type = "webhook"
		if _, err := New(c, Deps{}); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}
