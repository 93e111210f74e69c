package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrUnknownUser means RunRequest.User is neither in the image's
// /etc/passwd nor a numeric uid.
var ErrUnknownUser = errors.New("agent: unknown user")

// User is who the job's command runs as, looked up inside the image.
type User struct {
	Name     string
	UID, GID uint32
	Home     string
}

// LookupUser finds name (a user name or a numeric uid) in a passwd(5)
// stream. The image's own file is used rather than the agent's because the
// command runs with the image's view of users. A numeric uid absent from the
// file runs with gid = uid and HOME=/, as container runtimes do.
func LookupUser(passwd io.Reader, name string) (User, error) {
	if name == "" {
		name = "root"
	}
	uid, numErr := strconv.ParseUint(name, 10, 32)
	sc := bufio.NewScanner(passwd)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		u, err1 := strconv.ParseUint(f[2], 10, 32)
		g, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[0] == name || (numErr == nil && u == uid) {
			home := f[5]
			if home == "" {
				home = "/"
			}
			return User{Name: f[0], UID: uint32(u), GID: uint32(g), Home: home}, nil
		}
	}
	if err := sc.Err(); err != nil {
		return User{}, fmt.Errorf("agent: read passwd: %w", err)
	}
	if numErr == nil {
		return User{Name: name, UID: uint32(uid), GID: uint32(uid), Home: "/"}, nil
	}
	if name == "root" {
		// Scratch images often ship no /etc/passwd at all.
		return User{Name: "root", Home: "/root"}, nil
	}
	return User{}, fmt.Errorf("%w: %q", ErrUnknownUser, name)
}
