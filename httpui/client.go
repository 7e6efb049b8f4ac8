package httpui

import (
	"bytes"
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
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.do(ctx, http.MethodGet, path, nil, v)
}

// send makes one request on the control socket and returns the answer of a 2xx
// status; any other status becomes the error the daemon gave.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://traced"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("%w (socket %s: %v)", ErrNotRunning, c.Socket, ne.Err)
		}
		return nil, fmt.Errorf("control socket %s: %w", c.Socket, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return nil, errors.New(e.Error)
	}
	return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
}

// do sends one request and decodes the JSON answer into v (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body any, v any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if v != nil && len(data) > 0 {
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return nil
}

// Call fetches a correlated call: its legs and messages.
func (c *Client) Call(ctx context.Context, callID string) (CallResult, error) {
	var r CallResult
	err := c.get(ctx, "/api/v1/calls/"+url.PathEscape(callID), nil, &r)
	return r, err
}

// ExportCall writes a call's pcap (or, with text, its sngrep-style text) to w;
// legs limits it to those Call-IDs (all legs when empty).
func (c *Client) ExportCall(ctx context.Context, callID string, legs []string, text bool, w io.Writer) error {
	kind := "pcap"
	if text {
		kind = "text"
	}
	path := "/api/v1/calls/" + url.PathEscape(callID) + "/" + kind
	if len(legs) > 0 {
		path += "?" + url.Values{"leg": legs}.Encode()
	}
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export %s: %w", callID, err)
	}
	return nil
}

// Token is an API token as the control socket lists it.
type Token struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	Secret  string    `json:"token,omitempty"` // only when just created
}

// CreateToken makes a new API token and returns its secret (shown once).
func (c *Client) CreateToken(ctx context.Context, name, role string) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", map[string]string{"name": name, "role": role}, &t)
	return t, err
}

// Tokens lists the API tokens.
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var ts []Token
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, &ts)
	return ts, err
}

// RevokeToken deletes a token.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(name), nil, nil)
}

// ResetPassword sets a user's password, to be changed at the next login: the way
// back in when the admin password is lost.
func (c *Client) ResetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(name)+"/password", map[string]string{"password": password}, nil)
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
