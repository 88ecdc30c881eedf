//go:build !linux

package store

import "os"

// fsyncWAL makes the WAL's appended frames durable.
func fsyncWAL(f *os.File) error { return f.Sync() }
