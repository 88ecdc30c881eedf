package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// walSyncer makes SQLite commits durable outside the commit itself.
//
// With synchronous=FULL every commit waits for an fsync of the WAL while
// holding the one writer: the next batch cannot be written until the disk
// answers, and on this kind of machine that wait was 40% of the writer's
// time. The writer connection therefore runs synchronous=NORMAL (in WAL
// mode: a commit appends its frames and returns, consistent but not yet
// durable), and the syncer fsyncs the WAL file afterwards. Nothing is
// acknowledged, and nothing is read by anyone, before the fsync that covers
// it has returned:
//
//   - every write transaction takes a generation number just before its
//     commit (begin) and marks it finished after (end), and its caller is
//     answered once a sync covering that generation is done (the group
//     commit answers a batch while the next one is written);
//   - every read outside the writer's transactions, once it has read, waits
//     until every commit begun by then is finished and synced (settle), so
//     no reader returns, or sends on, a row that a power cut could still
//     take back. Waiting before the read would not do: a commit between
//     the wait and the read would be visible and not yet durable.
//
// The WAL is a log appended in order, with checksummed frames, so a sync
// covers every commit before it; one fsync serves every waiter (group sync).
// If an fsync fails, the syncer fails every waiter and every later call:
// after a failed fsync the kernel may have dropped the pages, so the store
// is unavailable until it is reopened, and SQLite recovers the WAL's valid
// prefix.
type walSyncer struct {
	path string
	sync func(*os.File) error // fsync; replaced in tests

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	started uint64 // commits begun
	ended   uint64 // commits finished, committed or failed
	synced  uint64 // generation the last successful sync covered
	syncing bool
	err     error // sticky: the first failed sync
}

// walFsync is how a new syncer syncs the WAL; tests replace it to fail
// from the first open on.
var walFsync = fsyncWAL

func newWALSyncer(dbPath string) (*walSyncer, error) {
	w := &walSyncer{path: dbPath + "-wal", sync: walFsync}
	w.cond = sync.NewCond(&w.mu)
	if err := w.open(); err != nil {
		return nil, err
	}
	// The WAL's directory entry must survive a crash too.
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return w, nil
}

// open opens the WAL file, which SQLite created in WAL mode when the
// migrations ran and keeps while any connection is open.
func (w *walSyncer) open() error {
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: open the WAL for syncing: %w", ErrUnavailable, err)
	}
	w.f = f
	return nil
}

// begin reserves the generation of a commit about to run; end must follow
// it, whether the commit succeeds or fails. Commits run one at a time on
// the writer's one connection.
func (w *walSyncer) begin() uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started++
	return w.started
}

// end marks the commit begun last as finished.
func (w *walSyncer) end() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.ended++
	w.cond.Broadcast()
	w.mu.Unlock()
}

// wait returns once generation gen is durable, or the sync's error. The
// first waiter, once no commit is running, runs the fsync for every commit
// finished by then; the others wait for it, or for the next one.
func (w *walSyncer) wait(gen uint64) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.synced < gen {
		if w.err != nil {
			return w.err
		}
		if w.syncing || w.ended < w.started {
			w.cond.Wait()
			continue
		}
		w.syncing = true
		target := w.ended
		w.mu.Unlock()
		err := w.syncFile()
		w.mu.Lock()
		w.syncing = false
		if err != nil {
			w.err = fmt.Errorf("%w: sync the WAL: %w", ErrUnavailable, err)
		} else {
			w.synced = target
		}
		w.cond.Broadcast()
	}
	return nil
}

// settle waits until every commit begun so far is finished and durable:
// a read calls it after reading, before it returns what it read.
func (w *walSyncer) settle() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	gen := w.started
	w.mu.Unlock()
	return w.wait(gen)
}

// syncFile fsyncs the WAL. If SQLite replaced the file (it deletes the WAL
// only when its last connection closes, which the store does not do while
// open; this guards the assumption), it syncs the new one.
func (w *walSyncer) syncFile() error {
	if err := w.sync(w.f); err != nil {
		return err
	}
	a, errA := w.f.Stat()
	b, errB := os.Stat(w.path)
	if errA != nil || errB != nil || !sameFile(a, b) {
		w.f.Close()
		if err := w.open(); err != nil {
			return err
		}
		return w.sync(w.f)
	}
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	sa, okA := a.Sys().(*syscall.Stat_t)
	sb, okB := b.Sys().(*syscall.Stat_t)
	return okA && okB && sa.Ino == sb.Ino && sa.Dev == sb.Dev
}

// health is the sticky sync error.
func (w *walSyncer) health() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// close syncs what is left and closes the file.
func (w *walSyncer) close() error {
	err := w.settle()
	w.f.Close()
	return err
}
