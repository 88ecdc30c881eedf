package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestInsertRowsBindsSharedColumnsOnce writes batches whose shareable
// columns are shared in some statements and not in others, of every type
// the release path binds, and reads every row back as written.
func TestInsertRowsBindsSharedColumnsOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.inTx(ctx, func(tx *txx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE shared_test (a TEXT, c INTEGER, d, e TEXT, k INTEGER PRIMARY KEY, b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]any
	key := int64(0)
	for _, n := range []int{1, 2, 37, 64, 100, 7} {
		batch := make([][]any, n)
		for i := range batch {
			key++
			a := "same"
			if n != 64 && rng.IntN(4) == 0 { // 64 rows all alike: shared
				a = fmt.Sprint("row", key)
			}
			var d any // NULL in every row of some statements, a value in others
			if n%2 == 0 && n != 64 && i > n/2 {
				d = int64(i)
			}
			batch[i] = []any{a, int64(7), d, "constant", key, []byte(fmt.Sprint("blob", key))}
		}
		want = append(want, batch...)
		if err := s.inTx(ctx, func(tx *txx) error {
			return insertRowsSharing(ctx, tx, `INSERT INTO shared_test (a, c, d, e, k, b) VALUES `, "", 4, batch)
		}); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
	}
	for _, k := range []int{0, 4} {
		if _, ok := insertStatements.Load(insertShape{`INSERT INTO shared_test (a, c, d, e, k, b) VALUES `, "", 6, 64, k}); !ok {
			t.Fatalf("no statement of 64 rows sharing %d columns was made", k)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT a, c, d, e, k, b FROM shared_test ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			k, c int64
			a, e string
			b    []byte
			d    any
		)
		if err := rows.Scan(&a, &c, &d, &e, &k, &b); err != nil {
			t.Fatal(err)
		}
		got := []any{a, c, d, e, k, b}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("row %d: %v, want %v", i, got, want[i])
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(want) {
		t.Fatalf("%d rows of %d, %v", i, len(want), err)
	}
}

func TestLeadingColumnsAreSharedWhenEqualAndComparable(t *testing.T) {
	rows := [][]any{
		{"x", nil, int64(1), true, []byte("b"), "p"},
		{"x", nil, int64(1), true, []byte("b"), "q"},
	}
	if !sameLeading(rows, 4) {
		t.Fatal("four equal leading columns not shared")
	}
	if sameLeading(rows, 5) {
		t.Fatal("a []byte column shared")
	}
	if sameLeading(rows, 6) {
		t.Fatal("differing columns shared")
	}
	if sameLeading(rows[:1], 4) {
		t.Fatal("a single row shares nothing")
	}
	if q, want := insertStatement("INSERT INTO t VALUES ", "", 3, 2, 1), "INSERT INTO t VALUES (?1,?,?),(?1,?,?)"; q != want {
		t.Fatalf("statement %q, want %q", q, want)
	}
	if q, want := insertStatement("INSERT INTO t VALUES ", "", 2, 2, 0), "INSERT INTO t VALUES (?,?),(?,?)"; q != want {
		t.Fatalf("statement %q, want %q", q, want)
	}
}
