package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// Access is what a handler lets its clients do.
type Access int

const (
	// ReadOnly serves status, pending and dead letters; every mutating
	// route is 404 (http.listen without http.admin_token_file).
	ReadOnly Access = iota
	// Token also serves scan and dead-letter retry and discard to
	// requests with `Authorization: Bearer <token>` (401 without one, 403
	// with a wrong one).
	Token
	// Full serves everything (the unix socket, whose file mode is the
	// authorization).
	Full
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	Access Access
	// Token is the bearer token of Access Token.
	Token  string
	Logger *zap.Logger
}

// retryRequest is the body of POST /api/v1/deadletters/retry (and,
// without FromStart, of discard).
type retryRequest struct {
	Selection
	FromStart bool `json:"from_start,omitempty"`
}

type idsBody struct {
	IDs []string `json:"ids"`
}

type pruneBody struct {
	Keep   []string `json:"keep,omitempty"`
	Pruned []string `json:"pruned,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"` // usage | not_found | not_running
}

// NewHandler serves ops under /api/v1/ (see the routes below); the objects
// of status, pending and dead letters are JSON lines, one object per line.
func NewHandler(ops Ops, opt HandlerOptions) http.Handler {
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	h := &handler{ops: ops, opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, struct{}{}) })
	mux.HandleFunc("GET /api/v1/status", h.status)
	mux.HandleFunc("GET /api/v1/pending", h.pending)
	mux.HandleFunc("GET /api/v1/deadletters", h.deadLetters)
	mux.HandleFunc("POST /api/v1/watches/{name}/scan", h.guard(h.scan))
	mux.HandleFunc("POST /api/v1/deadletters/retry", h.guard(h.retry))
	mux.HandleFunc("POST /api/v1/deadletters/discard", h.guard(h.discard))
	if opt.Access == Full {
		mux.HandleFunc("POST /api/v1/watches/{name}/reset", h.reset)
		mux.HandleFunc("POST /api/v1/state/prune", h.prune)
		mux.HandleFunc("GET /api/v1/state/backup", h.backup)
	}
	return mux
}

type handler struct {
	ops Ops
	opt HandlerOptions
}

// guard applies the handler's Access to a mutating route.
func (h *handler) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch h.opt.Access {
		case Full:
		case Token:
			auth := r.Header.Get("Authorization")
			got, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || got == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sftpwatchd"`)
				writeJSON(w, http.StatusUnauthorized, errorBody{Error: "this route needs Authorization: Bearer <the token of http.admin_token_file>"})
				return
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(h.opt.Token)) != 1 {
				writeJSON(w, http.StatusForbidden, errorBody{Error: "wrong admin token"})
				return
			}
		default:
			http.NotFound(w, r)
			return
		}
		next(w, r)
	}
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.ops.Status(r.Context(), r.URL.Query().Get("watch"))
	if err != nil {
		h.fail(w, err)
		return
	}
	lines := make([]any, 0, len(st.Watches)+len(st.Hosts))
	for _, s := range st.Watches {
		lines = append(lines, s)
	}
	for _, s := range st.Hosts {
		lines = append(lines, s)
	}
	writeLines(w, lines)
}

func (h *handler) pending(w http.ResponseWriter, r *http.Request) {
	p, err := h.ops.Pending(r.Context(), r.URL.Query().Get("watch"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeLines(w, p)
}

func (h *handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	d, err := h.ops.DeadLetters(r.Context(), r.URL.Query().Get("watch"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeLines(w, d)
}

func (h *handler) scan(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.Scan(r.Context(), r.PathValue("name")); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}

func (h *handler) retry(w http.ResponseWriter, r *http.Request) {
	var req retryRequest
	if !decode(w, r, &req) {
		return
	}
	ids, err := h.ops.Retry(r.Context(), req.Selection, req.FromStart)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, idsBody{IDs: ids})
}

func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	var req retryRequest
	if !decode(w, r, &req) {
		return
	}
	ids, err := h.ops.Discard(r.Context(), req.Selection)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, idsBody{IDs: ids})
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.Reset(r.Context(), r.PathValue("name"), r.URL.Query().Get("emit") == "true"); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) prune(w http.ResponseWriter, r *http.Request) {
	var req pruneBody
	if !decode(w, r, &req) {
		return
	}
	pruned, err := h.ops.Prune(r.Context(), req.Keep)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pruneBody{Pruned: pruned})
}

func (h *handler) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := h.ops.Backup(r.Context(), w); err != nil {
		// Headers may be out: the client sees a short body, and the
		// trailer says why.
		h.opt.Logger.Warn("state backup over the admin socket failed", zap.Error(err))
		w.Header().Set(http.TrailerPrefix+"X-Backup-Error", err.Error())
		return
	}
	w.Header().Set(http.TrailerPrefix+"X-Backup-Error", "")
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	body := errorBody{Error: err.Error()}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code, body.Kind = http.StatusNotFound, "not_found"
	case errors.Is(err, ErrUsage):
		code, body.Kind = http.StatusBadRequest, "usage"
	case errors.Is(err, ErrNotRunning):
		code, body.Kind = http.StatusConflict, "not_running"
	default:
		h.opt.Logger.Warn("admin request failed", zap.Error(err))
	}
	writeJSON(w, code, body)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "malformed request body: " + err.Error(), Kind: "usage"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeLines writes one JSON object per line.
func writeLines[T any](w http.ResponseWriter, lines []T) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	for _, l := range lines {
		_ = enc.Encode(l)
	}
}
