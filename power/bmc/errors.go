package bmc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/bmc-sched/bmc/power"
)

// Texts by which BMCs, ipmitool and bmclib's providers say why a call failed.
// ipmitool says "Unable to establish IPMI v2 / RMCP+ session" within tens of
// milliseconds when the BMC answers but rejects the user or password; an
// address where nothing answers instead runs into the call timeout (ipmitool
// retries for ~50 s), so the phrase means credentials in practice.
var (
	authTexts = []string{
		"unable to establish ipmi v2 / rmcp+ session",
		"rakp 2 hmac is invalid",
		"unauthorized name",
		"invalid user name",
		"password invalid",
		"unauthorized",
		"authentication failed",
		"invalid credentials",
		"failed to login",
		"not authenticated",
		"access denied",
	}
	http401 = regexp.MustCompile(`\b401\b`)

	unreachableTexts = []string{
		"connection refused",
		"no route to host",
		"network is unreachable",
		"host is down",
		"no such host",
		"connection reset",
		"get auth capabilities error",
		"no response from remote controller",
		"i/o timeout",
		"eof",
	}
	unsupportedTexts = []string{
		"invalid data field",
		"invalid command",
		"not supported",
		"not implemented",
		"hasn't been implemented",
		"no bootdevicesetter implementations",
		"no powersetter implementations",
		"requested state type unknown",
		"unable to find sensor", // a misnamed power_sensor: no retry will find it
	}
)

// classify maps a failed call to the power sentinel it means, or nil when the
// cause is unknown (retried like a transient failure). callCtx is the
// attempt's own context: its deadline passing is a timeout whatever the text.
func classify(callCtx context.Context, err error, password string) error {
	if err == nil {
		return nil
	}
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return power.ErrTimeout
	}
	for _, s := range []error{power.ErrAuth, power.ErrUnreachable, power.ErrTimeout, power.ErrUnsupported} {
		if errors.Is(err, s) {
			return s
		}
	}
	return classifyText(scrub(err.Error(), password))
}

// classifyText maps an error text to a power sentinel, or nil.
func classifyText(msg string) error {
	m := strings.ToLower(msg)
	for _, t := range authTexts {
		if strings.Contains(m, t) {
			return power.ErrAuth
		}
	}
	if http401.MatchString(m) {
		return power.ErrAuth
	}
	for _, t := range unsupportedTexts {
		if strings.Contains(m, t) {
			return power.ErrUnsupported
		}
	}
	for _, t := range unreachableTexts {
		if strings.Contains(m, t) {
			return power.ErrUnreachable
		}
	}
	if strings.Contains(m, "deadline exceeded") || strings.Contains(m, "timed out") || strings.Contains(m, "timeout") {
		return power.ErrTimeout
	}
	return nil
}

// scrub removes every occurrence of the password from s.
func scrub(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "[redacted]")
}

// ReadPassword reads a BMC password file: its content with trailing line
// endings removed. An empty path means no password. Errors never quote the
// file's content.
func ReadPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ParsePowerState normalises what BMCs answer ("Chassis Power is on\n",
// "On", "PoweringOff", "off") to a power.State.
func ParsePowerState(raw string) (power.State, bool) {
	s := strings.ToLower(strings.TrimSpace(raw))
	s = strings.TrimPrefix(s, "chassis power is ")
	switch s {
	case "on", "poweringon", "powering on", "poweringoff", "powering off":
		// Switched on, or still drawing power until it reports off.
		return power.On, true
	case "off", "soft off", "softoff":
		return power.Off, true
	}
	return power.Unknown, false
}
