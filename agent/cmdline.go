package agent

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/bmc-sched/bmc/agent/proto"
)

// ErrBootParams means the kernel command line lacks what bmcinit needs to
// reach the controller.
var ErrBootParams = errors.New("agent: boot parameters")

// BootParams are the controller coordinates the boot script puts on the
// kernel command line.
type BootParams struct {
	URL   string // base URL of the controller's node listener
	Token string // bearer token of this boot
}

// SplitCmdline splits a kernel command line into key/value pairs the way the
// kernel's next_arg does: words are separated by blanks, double quotes group
// blanks into a word and are removed, and a word without '=' has an empty
// value. A later duplicate key wins, as with most kernel parameters.
func SplitCmdline(s string) map[string]string {
	params := make(map[string]string)
	var word strings.Builder
	inQuote, inWord := false, false
	flush := func() {
		if !inWord {
			return
		}
		k, v, _ := strings.Cut(word.String(), "=")
		params[k] = v
		word.Reset()
		inWord = false
	}
	// Bytes, not runes: the delimiters are ASCII and values must come back
	// byte for byte even when they are not UTF-8.
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0):
			flush()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return params
}

// ParseCmdline extracts and checks bmc.url and bmc.token from /proc/cmdline.
func ParseCmdline(s string) (BootParams, error) {
	params := SplitCmdline(s)
	p := BootParams{URL: params[proto.ParamURL], Token: params[proto.ParamToken]}
	if p.URL == "" {
		return BootParams{}, fmt.Errorf("%w: %s missing", ErrBootParams, proto.ParamURL)
	}
	if p.Token == "" {
		return BootParams{}, fmt.Errorf("%w: %s missing", ErrBootParams, proto.ParamToken)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return BootParams{}, fmt.Errorf("%w: %s: %w", ErrBootParams, proto.ParamURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return BootParams{}, fmt.Errorf("%w: %s=%q is not an http(s) URL", ErrBootParams, proto.ParamURL, p.URL)
	}
	p.URL = strings.TrimRight(p.URL, "/")
	return p, nil
}
