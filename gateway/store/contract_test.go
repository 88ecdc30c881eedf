package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/gateway/store/storetest"
)

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "tumar.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLiteStatusContract(t *testing.T) {
	storetest.RunStatus(t, func(t *testing.T) storetest.Full {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "tumar.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLiteConnectorsContract(t *testing.T) {
	storetest.RunConnectors(t, func(t *testing.T) storetest.Full {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "tumar.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func openPostgres(t *testing.T) storetest.Full {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t) })
}

func TestPostgresStatusContract(t *testing.T) { storetest.RunStatus(t, openPostgres) }

func TestPostgresConnectorsContract(t *testing.T) { storetest.RunConnectors(t, openPostgres) }
