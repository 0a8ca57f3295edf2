package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Client is an Ops talking to a running daemon over its admin socket.
type Client struct {
	socket string
	http   *http.Client
}

var _ Ops = (*Client)(nil)

// NewClient returns a client of the admin socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: path, http: &http.Client{Transport: tr}}
}

// Ping reports whether a daemon answers on the socket, within timeout.
func (c *Client) Ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.do(ctx, http.MethodGet, "/api/v1/ping", nil, nil)
}

// do sends a request with body (JSON, when not nil) and decodes a JSON
// answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket %s: %s %s: %w", c.socket, method, path, err)
	}
	return nil
}

// send sends a request and returns a 2xx response; any other is turned
// back into the error the daemon's Ops returned.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sftpwatchd"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var eb errorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&eb); err != nil || eb.Error == "" {
		return nil, fmt.Errorf("admin socket %s: %s %s: %s", c.socket, method, path, resp.Status)
	}
	kind := map[string]error{"usage": ErrUsage, "not_found": ErrNotFound, "not_running": ErrNotRunning}[eb.Kind]
	if kind != nil {
		return nil, wrapped{msg: eb.Error, kind: kind}
	}
	return nil, errors.New(eb.Error)
}

// wrapped is an error text from the daemon that still matches its kind.
type wrapped struct {
	msg  string
	kind error
}

func (e wrapped) Error() string        { return e.msg }
func (e wrapped) Is(target error) bool { return target == e.kind }

// lines GETs path and decodes its JSON lines with fn.
func (c *Client) lines(ctx context.Context, path string, fn func([]byte) error) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("admin socket %s: %s: %w", c.socket, path, err)
		}
	}
	return sc.Err()
}

func watchQuery(path, watch string) string {
	if watch == "" {
		return path
	}
	return path + "?watch=" + url.QueryEscape(watch)
}

// Status implements Ops.
func (c *Client) Status(ctx context.Context, watch string) (Status, error) {
	st := Status{Running: true}
	err := c.lines(ctx, watchQuery("/api/v1/status", watch), func(b []byte) error {
		var probe struct {
			Watch *string `json:"watch"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return err
		}
		if probe.Watch != nil {
			var w WatchStatus
			err := json.Unmarshal(b, &w)
			st.Watches = append(st.Watches, w)
			return err
		}
		var h HostStatus
		err := json.Unmarshal(b, &h)
		st.Hosts = append(st.Hosts, h)
		return err
	})
	return st, err
}

// Pending implements Ops.
func (c *Client) Pending(ctx context.Context, watch string) ([]Pending, error) {
	var out []Pending
	err := c.lines(ctx, watchQuery("/api/v1/pending", watch), func(b []byte) error {
		var p Pending
		err := json.Unmarshal(b, &p)
		out = append(out, p)
		return err
	})
	return out, err
}

// DeadLetters implements Ops.
func (c *Client) DeadLetters(ctx context.Context, watch string) ([]DeadLetter, error) {
	var out []DeadLetter
	err := c.lines(ctx, watchQuery("/api/v1/deadletters", watch), func(b []byte) error {
		var d DeadLetter
		err := json.Unmarshal(b, &d)
		out = append(out, d)
		return err
	})
	return out, err
}

// Retry implements Ops.
func (c *Client) Retry(ctx context.Context, sel Selection, fromStart bool) ([]string, error) {
	var out idsBody
	err := c.do(ctx, http.MethodPost, "/api/v1/deadletters/retry", retryRequest{Selection: sel, FromStart: fromStart}, &out)
	return out.IDs, err
}

// Discard implements Ops.
func (c *Client) Discard(ctx context.Context, sel Selection) ([]string, error) {
	var out idsBody
	err := c.do(ctx, http.MethodPost, "/api/v1/deadletters/discard", retryRequest{Selection: sel}, &out)
	return out.IDs, err
}

// Scan implements Ops.
func (c *Client) Scan(ctx context.Context, watch string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/watches/"+url.PathEscape(watch)+"/scan", nil, nil)
}

// Reset implements Ops.
func (c *Client) Reset(ctx context.Context, watch string, emit bool) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/watches/%s/reset?emit=%t", url.PathEscape(watch), emit), nil, nil)
}

// Prune implements Ops.
func (c *Client) Prune(ctx context.Context, keep []string) ([]string, error) {
	var out pruneBody
	err := c.do(ctx, http.MethodPost, "/api/v1/state/prune", pruneBody{Keep: keep}, &out)
	return out.Pruned, err
}

// Backup implements Ops.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/state/backup", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("admin socket %s: state backup: %w", c.socket, err)
	}
	if msg := resp.Trailer.Get("X-Backup-Error"); msg != "" {
		return fmt.Errorf("admin socket %s: state backup: %s", c.socket, msg)
	}
	return nil
}
