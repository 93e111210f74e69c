package main

// What the guest's serial console says: its own timeline of a boot.

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// guestTimeline is when things happened in the guest, by its own clock
// (seconds since the kernel's clock started), read from the serial console.
type guestTimeline map[string]time.Duration

func parseGuest(console []byte) guestTimeline {
	g := guestTimeline{}
	for _, line := range strings.Split(string(console), "\n") {
		m := guestLineRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		for _, e := range guestEvents {
			if _, seen := g[e.key]; !seen && strings.HasPrefix(m[2], e.prefix) {
				g[e.key] = secs(m[1])
			}
		}
	}
	return g
}

// span is b − a in the guest's clock, or −1 s when either is missing.
func (g guestTimeline) span(a, b string) time.Duration {
	ta, okA := g[a]
	tb, okB := g[b]
	if !okA || !okB {
		return -time.Second
	}
	return tb - ta
}

func findMarker(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	m := markerRE.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	return secs(string(m[1])), true
}

func secs(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
