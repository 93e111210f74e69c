// Package job owns the job file format (TOML), its defaults and validation with
// line-numbered errors, and the job record the controller keeps: states, reasons
// and the array and dependency syntax. It touches neither storage nor network.
package job
