package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// Shared parts: runs of bytes that many rows repeat are stored once.
//
// A released record and its audit entry both carry the record's field
// decisions, which are the same for every record of one cached decision, and
// every record of a commit carries the same batch signature. Stored in every
// row they were two thirds of a record's bytes. Now a row keeps its bytes
// with the part cut out, the offset of the cut, and the part's SHA-256, under
// which the table parts keeps the part once.
//
// Reading puts the part back at its offset, so what is read is byte for byte
// what was written. Nothing is trusted to the cut: the audit chain's hashes
// and the batch signatures cover the whole bytes, so a part that was changed
// or removed fails verification, and a missing part is an error, never a
// shorter record.
//
// Only a JSON array or string is cut: each ends where it says it ends, so
// bytes that start with a part seen before hold that very part.

// Where a part starts: the field decisions of a released record and of an
// audit entry, and the batch signature of a release's proof.
const (
	fieldsMarker = `"fields":[`
	batchMarker  = `{"batch":"`
	minPart      = 128 // shorter runs are not worth a reference
	recentParts  = 8
)

// cutRow is a value as stored: rest with the part cut out at at, and the
// part's hash; at and hash are nil when nothing was cut.
type cutRow struct {
	rest     []byte
	at, hash any
}

type part struct{ hash, body []byte }

// A Cut is where a row's bytes repeat a shared part, told by whoever made
// them: Part's bytes from offset At, and Part's SHA-256. The zero Cut tells
// nothing.
type Cut struct {
	At   int
	Part []byte
	Sum  *[sha256.Size]byte
}

// cutAt cuts k's part out of b where k says it is, with nothing to look
// for: the rows of a batch share a few parts, and the one who made the
// bytes knows where they are. Nothing told is trusted: b must hold the part
// at that offset, and its hash must be the part's (fileShared). When k
// tells nothing or is wrong, cutAt looks for the part after marker, as cut
// does. The rest is appended to arena.
func (c *partCache) cutAt(b []byte, k Cut, marker string, used map[string][]byte, arena *[]byte) cutRow {
	if k.Sum == nil || len(k.Part) < minPart || k.At < 0 || k.At > len(b)-len(k.Part) ||
		!bytes.Equal(b[k.At:k.At+len(k.Part)], k.Part) || !fileShared(used, k.Part, k.Sum) {
		return c.cut(b, marker, used)
	}
	start := len(*arena)
	*arena = append(append(*arena, b[:k.At]...), b[k.At+len(k.Part):]...)
	return cutRow{rest: (*arena)[start:len(*arena):len(*arena)], at: int64(k.At), hash: k.Sum[:]}
}

// fileShared adds part to the parts a transaction refers to (used), under
// sum, if sum is its hash: checked the first time the transaction meets
// sum; after that, part must be the very bytes filed under it.
func fileShared(used map[string][]byte, part []byte, sum *[sha256.Size]byte) bool {
	if filed, ok := used[string(sum[:])]; ok {
		return bytes.Equal(filed, part)
	}
	if sha256.Sum256(part) != *sum {
		return false
	}
	used[string(sum[:])] = part
	return true
}

// rowArenas lend the buffers a batch's rows are built in: SQLite copies
// what it binds, so a batch's arena goes back once its rows are inserted.
var rowArenas = sync.Pool{New: func() any { return new([]byte) }}

// maxArena is the largest arena kept for reuse: a batch of 256 releases
// takes about 700 KiB.
const maxArena = 4 << 20

func getArena(size int) *[]byte {
	a := rowArenas.Get().(*[]byte)
	if cap(*a) < size {
		*a = make([]byte, 0, size)
	}
	*a = (*a)[:0]
	return a
}

func putArena(a *[]byte) {
	if cap(*a) <= maxArena {
		rowArenas.Put(a)
	}
}

// partCache remembers the last parts cut, so that cutting the same part
// again costs a comparison, not a scan and a hash, and the parts committed
// transactions stored, so that a transaction does not write them again (a
// statement and a look-up a commit, which a commit of one record paid in
// full). Parts are never deleted while a store is open: a part once stored
// stays.
type partCache struct {
	mu     sync.Mutex
	recent []part              // most recent first
	stored map[string]struct{} // by hash; emptied when full
}

// maxStoredParts bounds partCache.stored: past it the set starts again,
// and a part it forgot is written again, as a no-op.
const maxStoredParts = 4096

// isStored reports whether a committed transaction stored the part.
func (c *partCache) isStored(hash string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.stored[hash]
	return ok
}

// markStored records the parts a transaction wrote, once it has committed.
func (c *partCache) markStored(hashes []string) {
	if c == nil || len(hashes) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stored == nil || len(c.stored)+len(hashes) > maxStoredParts {
		c.stored = make(map[string]struct{}, len(hashes))
	}
	for _, h := range hashes {
		c.stored[h] = struct{}{}
	}
}

// cut cuts the JSON value that follows marker out of b, if it is an array or
// a string of at least minPart bytes, and adds it to used (hash to body).
// The first such value is cut; what is cut makes no difference to what is
// read back, only to how much is saved.
func (c *partCache) cut(b []byte, marker string, used map[string][]byte) cutRow {
	var (
		p  part
		at = -1
	)
	for from := 0; ; {
		i := bytes.Index(b[from:], []byte(marker))
		if i < 0 {
			return cutRow{rest: b}
		}
		at = from + i + len(marker) - 1 // the part's opening [ or "
		var ok bool
		if p, ok = c.find(b[at:]); ok {
			break
		}
		from = at
	}
	used[string(p.hash)] = p.body
	rest := make([]byte, 0, len(b)-len(p.body))
	rest = append(append(rest, b[:at]...), b[at+len(p.body):]...)
	return cutRow{rest: rest, at: int64(at), hash: p.hash}
}

// find returns the part b starts with.
func (c *partCache) find(b []byte) (part, bool) {
	if c != nil {
		c.mu.Lock()
		for i, p := range c.recent {
			if bytes.HasPrefix(b, p.body) {
				copy(c.recent[1:i+1], c.recent[:i])
				c.recent[0] = p
				c.mu.Unlock()
				return p, true
			}
		}
		c.mu.Unlock()
	}
	if len(b) < minPart || (b[0] != '[' && b[0] != '"') {
		return part{}, false
	}
	v, err := jsontext.NewDecoder(bytes.NewReader(b)).ReadValue()
	if err != nil || len(v) < minPart {
		return part{}, false
	}
	body := bytes.Clone(v)
	sum := sha256.Sum256(body)
	p := part{hash: sum[:], body: body}
	if c != nil {
		c.mu.Lock()
		if len(c.recent) < recentParts {
			c.recent = append(c.recent, part{})
		}
		copy(c.recent[1:], c.recent[:len(c.recent)-1])
		c.recent[0] = p
		c.mu.Unlock()
	}
	return p, true
}

// writeParts stores the parts a transaction refers to, but those a
// committed transaction stored; a part stored before is left as it is. The
// transaction notes what it wrote (txx.partsWritten), for the store to
// remember once it commits.
func writeParts(ctx context.Context, tx *txx, used map[string][]byte) error {
	rows := make([][]any, 0, len(used))
	for h, body := range used {
		if tx.parts.isStored(h) {
			continue
		}
		rows = append(rows, []any{[]byte(h), body})
		tx.partsWritten = append(tx.partsWritten, h)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := insertRows(ctx, tx, `INSERT INTO parts (hash, body) VALUES `, ` ON CONFLICT DO NOTHING`, rows); err != nil {
		return fmt.Errorf("write shared parts: %w", err)
	}
	return nil
}

// errPartMissing means a row refers to a shared part that is not stored.
var errPartMissing = errors.New("store: a row refers to a shared part that is missing")

// joinPart puts a row's part back: rest as read, the offset of the cut and
// the part (NULL and NULL when nothing was cut).
func joinPart(rest []byte, at sql.NullInt64, body []byte) ([]byte, error) {
	if !at.Valid {
		return rest, nil
	}
	if body == nil {
		return nil, errPartMissing
	}
	if at.Int64 < 0 || at.Int64 > int64(len(rest)) {
		return nil, fmt.Errorf("store: a shared part's offset %d is outside its row", at.Int64)
	}
	out := make([]byte, 0, len(rest)+len(body))
	return append(append(append(out, rest[:at.Int64]...), body...), rest[at.Int64:]...), nil
}

// readParts reads the bodies of parts by hash.
func readParts(ctx context.Context, db *dbx, hashes [][]byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	for len(hashes) > 0 {
		n := min(len(hashes), 64)
		args := make([]any, n)
		for i, h := range hashes[:n] {
			args[i] = h
		}
		rows, err := db.QueryContext(ctx, `SELECT hash, body FROM parts WHERE hash IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h, body []byte
			if err := rows.Scan(&h, &body); err != nil {
				rows.Close()
				return nil, err
			}
			out[string(h)] = body
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		hashes = hashes[n:]
	}
	return out, nil
}
