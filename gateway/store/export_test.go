package store

import (
	"io/fs"
)

// The embedded migrations, for tests that migrate down.
func MigrationsFS(postgres bool) fs.FS {
	if postgres {
		sub, _ := fs.Sub(postgresMigrations, "migrations/postgres")
		return sub
	}
	sub, _ := fs.Sub(sqliteMigrations, "migrations/sqlite")
	return sub
}
