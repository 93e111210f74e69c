package job

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string // substring; "" = no error
	}{
		{"90", 90 * time.Minute, ""},
		{" 5 ", 5 * time.Minute, ""},
		{"30:00", 30 * time.Minute, ""},
		{"0:05", 5 * time.Second, ""},
		{"90:30", 90*time.Minute + 30*time.Second, ""},
		{"1:30:00", 90 * time.Minute, ""},
		{"100:00:00", 100 * time.Hour, ""},
		{"2-0", 48 * time.Hour, ""},
		{"2-12", 60 * time.Hour, ""},
		{"1-12:30", 36*time.Hour + 30*time.Minute, ""},
		{"1-00:00:01", 24*time.Hour + time.Second, ""},
		{"90m", 90 * time.Minute, ""},
		{"2h30m", 150 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"8760h", MaxDuration, ""},
		{"365-00:00:00", MaxDuration, ""},
		{"8761h", 0, "longer than"},
		{"366-0", 0, "longer than"},
		{"999999999999", 0, "longer than"},
		{"", 0, "is not a duration"},
		{"2x", 0, "is not a duration"},
		{"1:60", 0, "is not a duration"},
		{"1:75:00", 0, "is not a duration"},
		{"1-24", 0, "is not a duration"},
		{"1:2:3:4", 0, "is not a duration"},
		{"-5", 0, "is not a duration"},
		{"1-", 0, "is not a duration"},
		{"+5", 0, "is not a duration"},
		{"1h:30", 0, "is not a duration"},
		{"0", 0, "must be positive"},
		{"0:00:00", 0, "must be positive"},
		{"-1h", 0, "must be positive"},
		{"UNLIMITED", 0, "not allowed"},
		{"infinite", 0, "not allowed"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !contains(err.Error(), tt.err) {
			t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
		}
	}
	if _, err := ParseDuration("2x"); !errors.Is(err, ErrBadDuration) {
		t.Errorf("error does not wrap ErrBadDuration: %v", err)
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Second, "0:05"},
		{30 * time.Minute, "30:00"},
		{90 * time.Minute, "1:30:00"},
		{48 * time.Hour, "2-00:00:00"},
		{49*time.Hour + 61*time.Second, "2-01:01:01"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
		back, err := ParseDuration(Duration(tt.d).String())
		if err != nil || back != tt.d {
			t.Errorf("round trip of %v: %v, %v", tt.d, back, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"512", 512 * MiB, true},
		{"512M", 512 * MiB, true},
		{"512MB", 512 * MiB, true},
		{"4G", 4 * GiB, true},
		{"4gib", 4 * GiB, true},
		{"1T", TiB, true},
		{"100K", 100 * KiB, true},
		{"100 K", 100 * KiB, true},
		{"4096B", 4096, true},
		{"0", 0, true},
		{"", 0, false},
		{"G", 0, false},
		{"-1G", 0, false},
		{"1.5G", 0, false},
		{"4X", 0, false},
		{"4iB", 0, false},
		{"9999999999T", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, z := range []Size{1, 4096, 100 * KiB, 512 * MiB, 3 * GiB, 2 * TiB, 1536 * MiB} {
		back, err := ParseSize(z.String())
		if err != nil || back != z {
			t.Errorf("round trip of %d via %q: %d, %v", z, z.String(), back, err)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90", "1:30:00", "2-00:00:00", "1-12:30", "90m", "2h30m", "0", "UNLIMITED", "1:75:00", "8760h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d <= 0 || d > MaxDuration {
			t.Fatalf("ParseDuration(%q) = %v, outside (0, MaxDuration]", s, d)
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, d, Duration(d).String(), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "4G", "1T", "100K", "4096B", "9999999999T", "1.5G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := ParseSize(s)
		if err != nil {
			return
		}
		if z < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, z)
		}
		back, err := ParseSize(z.String())
		if err != nil || back != z {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, z, z.String(), back, err)
		}
	})
}
