package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// OpenPostgres connects to PostgreSQL (a pgx connection string) and applies
// migrations. Several gateway replicas share one database: the audit chain
// stays one chain (appends take turns under an advisory lock), a token is
// redeemed once (its row is locked), and outbox deliveries are claimed with
// FOR UPDATE SKIP LOCKED.
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres address: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres: %w", ErrUnavailable, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("%w: postgres: %w", ErrUnavailable, err)
	}
	if err := migratePostgres(ctx, db); err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	w := &dbx{DB: db, pg: true, parts: &partCache{}}
	return &SQL{db: w, r: w, pg: true, closePool: pool.Close}, nil
}

func migratePostgres(ctx context.Context, db *sql.DB) error {
	migrations, _ := fs.Sub(postgresMigrations, "migrations/postgres")
	// Replicas starting together migrate one at a time.
	if _, err := db.ExecContext(ctx, `SELECT pg_advisory_lock(7278)`); err != nil {
		return fmt.Errorf("store: postgres migration lock: %w", err)
	}
	defer db.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7278)`)
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate postgres: %w", err)
	}
	return nil
}
