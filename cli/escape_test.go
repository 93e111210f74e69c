package cli

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, 100%", "plain text, 100%"},
		{"ünïcode 日本 ✓ €", "ünïcode 日本 ✓ €"},
		{`a\nb C:\dir`, `a\nb C:\dir`}, // backslashes stay
		{"two\nlines", `two\nlines`},
		{"cr\rover", `cr\rover`},
		{"tab\there", `tab\there`},
		{"bell\a bs\b ff\f vt\v", `bell\a bs\b ff\f vt\v`},
		{"esc\x1b[2J\x1b]0;title\x07", `esc\x1b[2J\x1b]0;title\a`},
		{"nul\x00 del\x7f", `nul\x00 del\x7f`},
		{"c1 csi\u009b31m nel\u0085", `c1 csi\u009b31m nel\u0085`},
		{"raw c1 byte \x9b, bad \xff\xfe", `raw c1 byte \x9b, bad \xff\xfe`},
		{"bidi \u202eevil\u202c \u2066iso\u2069 \u200f", `bidi \u202eevil\u202c \u2066iso\u2069 \u200f`},
		{"zero\u200bwidth \ufeffbom", `zero\u200bwidth \ufeffbom`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"private \ue000 \U0010fffd", `private \ue000 \U0010fffd`},
		{"replacement \ufffd kept", "replacement \ufffd kept"},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzPrintable: whatever goes in, what comes out is valid UTF-8 of graphic
// characters and spaces only, and text without anything to escape is kept.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "ok", "a\nb", "\x1b[2J", "\u202e", "\xff", "日本\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Printable(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if !unicode.IsGraphic(r) {
				t.Fatalf("Printable(%q) = %q: holds %U", s, out, r)
			}
		}
		clean := utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) }) < 0
		if clean != (out == s) {
			t.Fatalf("Printable(%q) = %q: changed clean text, or kept unclean text", s, out)
		}
	})
}

// An error's one line keeps to one line, escaped: the daemon's errors can
// quote what a job or a node sent.
func TestExitEscapesErrors(t *testing.T) {
	var b strings.Builder
	if code := Exit(&b, "bmcq", errors.New("job 5: \x1b[2Jgone\u202e\rJobId=999\nsecond line")); code != 1 {
		t.Errorf("exit %d", code)
	}
	if want := `bmcq: job 5: \x1b[2Jgone\u202e\rJobId=999` + "\n"; b.String() != want {
		t.Errorf("stderr %q, want %q", b.String(), want)
	}
}
