package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestInsertRowsBindsSharedColumnsOnce writes batches whose shareable
// columns are shared in some statements and not in others, five or four of
// them, of every type the release path binds, and reads every row back as
// written.
func TestInsertRowsBindsSharedColumnsOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.inTx(ctx, func(tx *txx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE shared_test (a TEXT, c INTEGER, d, e TEXT, h BLOB, k INTEGER PRIMARY KEY, b BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]any
	key := int64(0)
	for _, n := range []int{1, 2, 37, 64, 32, 100, 7} {
		batch := make([][]any, n)
		for i := range batch {
			key++
			a := "same"
			if n != 64 && n != 32 && rng.IntN(4) == 0 { // 64 or 32 rows all alike: shared
				a = fmt.Sprint("row", key)
			}
			var d any // NULL in every row of some statements, a value in others
			if n%2 == 0 && n != 64 && n != 32 && i > n/2 {
				d = int64(i)
			}
			var h any = []byte("part") // a shared part's hash, or none
			switch {
			case n == 37 && i == 5:
				h = nil
			case n == 100 && i%9 == 0, n == 32 && i == 3: // four shared, not five
				h = []byte("another part")
			}
			batch[i] = []any{a, int64(7), d, "constant", h, key, []byte(fmt.Sprint("blob", key))}
			row := slices.Clone(batch[i])
			if h == nil {
				row[4] = []byte(nil) // as it reads back
			}
			want = append(want, row)
		}
		if err := s.inTx(ctx, func(tx *txx) error {
			return insertRowsSharing(ctx, tx, `INSERT INTO shared_test (a, c, d, e, h, k, b) VALUES `, "", []int{5, 4}, batch)
		}); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
	}
	for _, shape := range [][2]int{{64, 5}, {32, 4}, {32, 0}} {
		if _, ok := insertStatements.Load(insertShape{`INSERT INTO shared_test (a, c, d, e, h, k, b) VALUES `, "", 7, shape[0], shape[1]}); !ok {
			t.Fatalf("no statement of %d rows sharing %d columns was made", shape[0], shape[1])
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT a, c, d, e, h, k, b FROM shared_test ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			k, c int64
			a, e string
			b, h []byte
			d    any
		)
		if err := rows.Scan(&a, &c, &d, &e, &h, &k, &b); err != nil {
			t.Fatal(err)
		}
		got := []any{a, c, d, e, h, k, b}
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
	if !sameLeading(rows, 5) {
		t.Fatal("an equal []byte column not shared")
	}
	for _, other := range []any{[]byte("c"), []byte(nil), nil, "b"} {
		rows[1][4] = other
		if sameLeading(rows, 5) {
			t.Fatalf("a []byte column shared with %#v", other)
		}
	}
	rows[0][4], rows[1][4] = []byte{}, []byte(nil)
	if sameLeading(rows, 5) {
		t.Fatal("an empty []byte shared with a nil one")
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
