package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Options configure a Server.
type Options struct {
	// Listen is the TCP address to serve on (http.listen); "" disables the
	// server: Start, Shutdown and Addr do nothing.
	Listen string
	// Registry is what /metrics serves, normally the registry of
	// NewRegistry. nil serves an empty registry.
	Registry prometheus.Gatherer
	// Readiness decides /readyz; nil means always ready.
	Readiness Readiness
	// Logger receives serve and scrape errors; nil means zap.NewNop().
	Logger *zap.Logger
	// Now is the clock /readyz judges by; nil means time.Now.
	Now func() time.Time
	// API, when set, serves /api/v1/ (the admin JSON, admin.NewHandler).
	API http.Handler
	// Status, when set, feeds the status page at / (see statuspage.go);
	// without it / is a list of the endpoints.
	Status StatusSource
}

// Server is the HTTP server of the daemon. Its zero value is not usable;
// create it with New.
type Server struct {
	opts    Options
	log     *zap.Logger
	handler http.Handler

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returned
}

// New returns a Server for opts. It does not listen yet; see Start.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger.Named("http")}
	s.handler = s.routes()
	return s
}

// Handler returns the server's routes, for embedding or for tests that do
// not want a listener.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(s.log),
		ErrorHandling: promhttp.ContinueOnError,
		// A scrape that outlives Prometheus' own timeout is useless; bound it.
		Timeout: 30 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.opts.Status != nil {
		mux.HandleFunc("GET /{$}", s.statusPage)
	} else {
		mux.HandleFunc("GET /{$}", s.index)
	}
	if s.opts.API != nil {
		mux.Handle("/api/v1/", s.opts.API)
	}
	return mux
}

// Start listens on Options.Listen and serves in the background. Listen
// errors (address in use, bad address) are returned at once, naming the
// address. Start on a server with an empty Listen does nothing; calling it
// twice is an error.
func (s *Server) Start() error {
	if s.opts.Listen == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return fmt.Errorf("http server on %s: already started", s.opts.Listen)
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %q: %w", s.opts.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	s.srv, s.ln, s.done = srv, ln, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", zap.String("addr", ln.Addr().String()), zap.Error(err))
		}
	}(s.done)
	s.log.Info("serving / /metrics /healthz /readyz /api/v1/", zap.String("addr", ln.Addr().String()))
	return nil
}

// Addr returns the address the server listens on (the real port for a
// Listen of ":0"), or "" when it is not listening.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends, then closes what is left. It is a no-op on a server that
// was never started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("http server shutdown: %w", err)
	}
	<-done
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyBody is the JSON of /readyz.
type readyBody struct {
	Status  string        `json:"status"` // "ready" | "not ready"
	Watches []WatchStatus `json:"watches,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var notReady []WatchStatus
	if s.opts.Readiness != nil {
		notReady = s.opts.Readiness.NotReady(s.opts.Now())
	}
	body, code := readyBody{Status: "ready"}, http.StatusOK
	if len(notReady) > 0 {
		body, code = readyBody{Status: "not ready", Watches: notReady}, http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		s.log.Debug("write /readyz response", zap.Error(err))
	}
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><html><head><title>sftpwatchd</title></head><body>
<h1>sftpwatchd</h1><ul>
<li><a href="metrics">/metrics</a> Prometheus metrics</li>
<li><a href="healthz">/healthz</a> liveness</li>
<li><a href="readyz">/readyz</a> readiness (every watch scanned recently)</li>
</ul></body></html>
`))
}
