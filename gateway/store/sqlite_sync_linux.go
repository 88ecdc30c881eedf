package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// fsyncWAL makes the WAL's appended frames durable: fdatasync, as SQLite's
// own unix VFS does on Linux. It flushes the data and what is needed to
// read it back (the file's new size), not the modification time.
func fsyncWAL(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}
