package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/bmc-sched/bmc/agent/proto"
)

// ErrHTTP matches every *HTTPError.
var ErrHTTP = errors.New("agent: controller answered with an error")

// HTTPError is a non-2xx answer from the controller's node listener.
type HTTPError struct {
	Method, Path string
	StatusCode   int
	Body         string // first bytes of the answer, for the console
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("agent: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// Is makes errors.Is(err, ErrHTTP) true.
func (e *HTTPError) Is(target error) bool { return target == ErrHTTP }

// Permanent says retrying cannot help: the controller refused the request
// itself (bad or expired token, unknown boot), not its own state.
func (e *HTTPError) Permanent() bool {
	return e.StatusCode/100 == 4 && e.StatusCode != http.StatusTooManyRequests
}

// API is the agent's side of the authenticated callbacks to the controller.
type API struct {
	BaseURL string // bmc.url, without trailing slash
	Token   string // bmc.token, sent as a bearer token
	HTTP    *http.Client
}

func (a *API) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return http.DefaultClient
}

// resolve accepts RootfsURL either absolute or relative to BaseURL.
func (a *API) resolve(ref string) (string, error) {
	base, err := url.Parse(a.BaseURL + "/")
	if err != nil {
		return "", fmt.Errorf("agent: base url: %w", err)
	}
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("agent: url %q: %w", ref, err)
	}
	return u.String(), nil
}

func (a *API) do(ctx context.Context, method, ref string, body any) (*http.Response, error) {
	target, err := a.resolve(ref)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("agent: encode %s: %w", ref, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("agent: %s %s: %w", method, ref, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent: %s %s: %w", method, ref, err)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &HTTPError{Method: method, Path: ref, StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(msg))}
	}
	return resp, nil
}

func (a *API) post(ctx context.Context, path string, v any) error {
	resp, err := a.do(ctx, http.MethodPost, path, v)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.Body.Close()
}

// Config fetches the boot's configuration and checks it is usable.
func (a *API) Config(ctx context.Context) (proto.Config, error) {
	var cfg proto.Config
	resp, err := a.do(ctx, http.MethodGet, proto.PathConfig, nil)
	if err != nil {
		return cfg, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("agent: decode config: %w", err)
	}
	if cfg.AuthorizedKey == "" || cfg.RootfsURL == "" {
		return cfg, fmt.Errorf("%w: config lacks authorized_key or rootfs_url", ErrBadRequest)
	}
	if cfg.SSHPort == 0 {
		cfg.SSHPort = 22
	}
	if cfg.HeartbeatSeconds <= 0 {
		cfg.HeartbeatSeconds = 10
	}
	return cfg, nil
}

// Progress reports a boot phase.
func (a *API) Progress(ctx context.Context, p proto.Progress) error {
	return a.post(ctx, proto.PathProgress, p)
}

// Ready announces the SSH server and its host key.
func (a *API) Ready(ctx context.Context, r proto.Ready) error {
	return a.post(ctx, proto.PathReady, r)
}

// Heartbeat keeps the node alive in the controller's eyes.
func (a *API) Heartbeat(ctx context.Context, h proto.Heartbeat) error {
	return a.post(ctx, proto.PathHeartbeat, h)
}

// Rootfs opens the image tar stream (RootfsURL, token-bound).
func (a *API) Rootfs(ctx context.Context, ref string) (io.ReadCloser, error) {
	return a.Get(ctx, ref)
}

// Get opens a file the controller serves (an absolute URL or one relative
// to BaseURL): the rootfs, or a kexec's kernel and initrd.
func (a *API) Get(ctx context.Context, ref string) (io.ReadCloser, error) {
	resp, err := a.do(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
