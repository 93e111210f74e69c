package agent

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    BootParams
		wantErr bool
	}{
		{
			name: "lab boot line",
			in:   "rdinit=/bmcinit bmc.url=http://10.0.2.2:8150 bmc.token=abc123 console=ttyS0 quiet\n",
			want: BootParams{URL: "http://10.0.2.2:8150", Token: "abc123"},
		},
		{
			name: "trailing slash trimmed, later duplicate wins",
			in:   "bmc.url=http://old/ bmc.token=t1 bmc.url=https://ctl.example:443/ bmc.token=t2",
			want: BootParams{URL: "https://ctl.example:443", Token: "t2"},
		},
		{
			name: "quoted values keep blanks out of word splitting",
			in:   `foo="a b c" bmc.url="http://10.0.2.2:8150" bmc.token=x`,
			want: BootParams{URL: "http://10.0.2.2:8150", Token: "x"},
		},
		{name: "no url", in: "bmc.token=x", wantErr: true},
		{name: "no token", in: "bmc.url=http://h", wantErr: true},
		{name: "empty token", in: "bmc.url=http://h bmc.token=", wantErr: true},
		{name: "not http", in: "bmc.url=ftp://h bmc.token=x", wantErr: true},
		{name: "no host", in: "bmc.url=http:/path bmc.token=x", wantErr: true},
		{name: "flag without value", in: "bmc.url bmc.token=x", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCmdline(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBootParams) {
					t.Fatalf("ParseCmdline(%q) err = %v, want ErrBootParams", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCmdline(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSplitCmdline(t *testing.T) {
	got := SplitCmdline("  ro  root=/dev/sda1\tinit=\"/sbin/my init\" x=a=b \"q uoted\"=1\n")
	want := map[string]string{"ro": "", "root": "/dev/sda1", "init": "/sbin/my init", "x": "a=b", "q uoted": "1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// FuzzParseCmdline: never panics, and a value written without blanks or
// quotes always comes back unchanged.
func FuzzParseCmdline(f *testing.F) {
	f.Add("rdinit=/bmcinit bmc.url=http://10.0.2.2:8150 bmc.token=abc", "tok")
	f.Add(`a="b c`, "x")
	f.Add("\"\"=\"\"", "")
	f.Fuzz(func(t *testing.T, line, token string) {
		_, _ = ParseCmdline(line)
		_ = SplitCmdline(line)
		if token == "" || strings.ContainsAny(token, " \t\n\r\"\x00") {
			return
		}
		p := SplitCmdline(line + " bmc.token=" + token)
		if p["bmc.token"] != token && !strings.Contains(line, `"`) {
			t.Fatalf("token %q came back as %q", token, p["bmc.token"])
		}
	})
}
