// Package cli owns the user commands bmcsubmit and bmcq: their flags, their
// output (tables, JSON) and their one-line errors. Each command is a cobra
// tree built by a New…Command function so tests drive it with SetArgs and
// golden files; cmd/* only calls them.
package cli
