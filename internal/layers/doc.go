// Package layers holds no code: its test keeps the module's imports running
// downward (README, Design) and bbolt inside package store.
package layers
