package httpui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"
)

// SocketName is the control socket's file name in the data directory.
const SocketName = "traced.sock"

// SocketPath returns the control socket of the daemon whose data directory is dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// ErrNotRunning means no daemon answers on the control socket.
var ErrNotRunning = errors.New("traced is not running")

// Client talks to a running daemon over its control socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{Socket: path, hc: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

func (c *Client) get(ctx context.Context, path string, q url.Values, v any) error {
	u := "http://traced" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return fmt.Errorf("%w (socket %s: %v)", ErrNotRunning, c.Socket, ne.Err)
		}
		return fmt.Errorf("control socket %s: %w", c.Socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.get(ctx, "/api/v1/status", nil, &s)
	return s, err
}

// Search runs a search with the parameters of /api/v1/search.
func (c *Client) Search(ctx context.Context, q url.Values) (SearchResult, error) {
	var r SearchResult
	err := c.get(ctx, "/api/v1/search", q, &r)
	return r, err
}
