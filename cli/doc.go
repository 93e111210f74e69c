// Package cli owns what the user commands share: the process environment a
// command runs in (Env), and how an error becomes one line on stderr and an
// exit status. The commands themselves are cobra trees in cli/bmcsubmit and
// cli/bmcq, built by NewCommand functions so tests drive them with SetArgs
// and golden files; cmd/* only wires a process to them.
//
// This package stays small on purpose: bmcsubmit starts once per job, so
// everything it imports is paid at every submit.
package cli
