// Package wire owns bmcctld's plain protocol: the few requests that
// short-lived commands make on every run (submit a job file, follow a job,
// list the queue), on the user socket without HTTP. It also owns the listener that lets that socket serve both
// this protocol and the HTTP API, and the client the commands use.
//
// Why a second protocol: bmcsubmit starts once per job in shell loops, and
// the HTTP client alone (net/http and what it pulls in) cost it about a
// third of its run time in package inits and page faults, and decoding
// JSON by reflection another 30-50 page faults. This package imports
// nothing from bmc, no HTTP and no encoding/json, so a command built on it
// stays small; the daemon parses and checks what it receives, as it must
// anyway.
//
// A request is Magic, a header (one "key<TAB>value" line per field, then
// an empty line; see header.go), and for a submit the job file's bytes. The
// answer is a header, and for a queue listing the rows that follow it
// (AppendRow), all values escaped the same way. Each connection carries
// one request.
package wire
