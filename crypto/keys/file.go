package keys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"
)

// File is a keyring kept in one file, encrypted at rest with AES-256-GCM under
// a key derived from a passphrase with Argon2id. It is the embedded default
// backend: no service to run, and a stolen disk does not give the keys away.
type File struct {
	*Memory
	path       string
	passphrase []byte
	kdf        KDF
}

var (
	_ Pseudonymizer = (*File)(nil)
	_ Rotator       = (*File)(nil)
	_ Signer        = (*File)(nil)
	_ Sealer        = (*File)(nil)
)

// KDF holds the Argon2id parameters of a keyring file.
type KDF struct {
	Alg       string `json:"alg"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

// DefaultKDF is the OWASP-recommended Argon2id setting (64 MiB, 3 passes).
var DefaultKDF = KDF{Alg: "argon2id", Time: 3, MemoryKiB: 64 << 10, Threads: 2}

const fileFormat = "tumar-keyring/1"

type fileEnvelope struct {
	Format     string `json:"format"`
	KDF        KDF    `json:"kdf"`
	Cipher     string `json:"cipher"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

type filePlain struct {
	Domains map[string]fileDomain `json:"domains"`
	Signing map[string]fileDomain `json:"signing,omitempty"` // Ed25519 seeds
	Sealing map[string][]byte     `json:"sealing,omitempty"` // AES-256 keys
}

type fileDomain struct {
	Current uint32      `json:"current"`
	Epochs  []fileEpoch `json:"epochs"`
}

type fileEpoch struct {
	Epoch   uint32    `json:"epoch"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// CreateFile writes a new keyring with a fresh key for each domain. It refuses
// to overwrite an existing file. A zero kdf means DefaultKDF.
func CreateFile(ctx context.Context, path string, passphrase []byte, kdf KDF, domains ...string) (*File, error) {
	if len(passphrase) < 12 {
		return nil, errors.New("keys: the keyring passphrase must be at least 12 bytes")
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("keys: %s already exists; refusing to overwrite a keyring", path)
	}
	mem, err := NewMemory(domains...)
	if err != nil {
		return nil, err
	}
	if kdf.Alg == "" {
		kdf = DefaultKDF
	}
	f := &File{Memory: mem, path: path, passphrase: bytes.Clone(passphrase), kdf: kdf}
	if err := f.save(); err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFile reads and decrypts a keyring file.
func OpenFile(path string, passphrase []byte) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var env fileEnvelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Format != fileFormat || env.KDF.Alg != "argon2id" || env.Cipher != "AES-256-GCM" {
		return nil, fmt.Errorf("keys: %s is not a Tumar keyring (%s)", path, fileFormat)
	}
	aead, err := newAEAD(passphrase, env.KDF)
	if err != nil {
		return nil, err
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("keys: %s is damaged (nonce)", path)
	}
	plain, err := aead.Open(nil, env.Nonce, env.Ciphertext, envelopeAAD(env))
	if err != nil {
		return nil, ErrBadPassphrase
	}
	var p filePlain
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("keys: keyring content is damaged: %w", err)
	}
	clear(plain)
	r := &ring{domains: map[string]*domainKeys{}, signing: map[string]*signingKeys{}, sealing: map[string][]byte{}}
	for name, k := range p.Sealing {
		if len(k) != KeySize {
			return nil, fmt.Errorf("keys: keyring sealing key %s has the wrong size", name)
		}
		r.sealing[name] = k
	}
	for name, d := range p.Signing {
		sk := &signingKeys{current: d.Current, versions: map[uint32]*signingVersion{}}
		for _, e := range d.Epochs {
			if len(e.Key) != ed25519.SeedSize {
				return nil, fmt.Errorf("keys: keyring signing key %s version %d has the wrong size", name, e.Epoch)
			}
			sk.versions[e.Epoch] = &signingVersion{key: ed25519.NewKeyFromSeed(e.Key), created: e.Created}
		}
		if _, ok := sk.versions[sk.current]; !ok {
			return nil, fmt.Errorf("keys: keyring signing key %q has no current version", name)
		}
		r.signing[name] = sk
	}
	for name, d := range p.Domains {
		dk := &domainKeys{current: d.Current, epochs: map[uint32]*epochKey{}}
		for _, e := range d.Epochs {
			if len(e.Key) != KeySize {
				return nil, fmt.Errorf("keys: keyring domain %s epoch %d: key has the wrong size", name, e.Epoch)
			}
			dk.epochs[e.Epoch] = newEpochKey(e.Key, e.Created)
		}
		if _, ok := dk.epochs[dk.current]; !ok || !ValidDomain(name) {
			return nil, fmt.Errorf("keys: keyring domain %q has no current key", name)
		}
		r.domains[name] = dk
	}
	mem := &Memory{}
	mem.state.Store(r)
	return &File{Memory: mem, path: path, passphrase: bytes.Clone(passphrase), kdf: env.KDF}, nil
}

// Rotate starts a new epoch for the domain and saves the keyring.
func (f *File) Rotate(ctx context.Context, domain string) (uint32, error) {
	var epoch uint32
	err := f.update(func() (err error) {
		epoch, err = f.Memory.Rotate(ctx, domain)
		return err
	})
	return epoch, err
}

// AddDomain creates keys for a new domain and saves the keyring.
func (f *File) AddDomain(ctx context.Context, domain string) error {
	return f.update(func() error { return f.Memory.AddDomain(ctx, domain) })
}

// update changes the keyring under an exclusive lock on "<path>.lock": it
// re-reads the file first, so that two commands run at once never lose a
// rotation or give one epoch number two keys.
func (f *File) update(change func() error) error {
	lock, err := os.OpenFile(f.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("keys: lock keyring: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("keys: lock keyring: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	fresh, err := OpenFile(f.path, f.passphrase)
	if err != nil {
		return err
	}
	f.Memory.state.Store(fresh.Memory.state.Load())
	if err := change(); err != nil {
		return err
	}
	return f.save()
}

// RotateSigningKey makes a new version of a signing key current and saves the keyring.
func (f *File) RotateSigningKey(ctx context.Context, name string) (uint32, error) {
	var v uint32
	err := f.update(func() (err error) {
		v, err = f.Memory.RotateSigningKey(ctx, name)
		return err
	})
	return v, err
}

func (f *File) save() error {
	f.Memory.mu.Lock()
	defer f.Memory.mu.Unlock()
	p := filePlain{Domains: map[string]fileDomain{}}
	for name, d := range f.Memory.state.Load().domains {
		fd := fileDomain{Current: d.current}
		for n, e := range d.epochs {
			fd.Epochs = append(fd.Epochs, fileEpoch{Epoch: n, Key: e.key, Created: e.created})
		}
		sort.Slice(fd.Epochs, func(i, j int) bool { return fd.Epochs[i].Epoch < fd.Epochs[j].Epoch })
		p.Domains[name] = fd
	}
	p.Sealing = f.Memory.state.Load().sealing
	p.Signing = map[string]fileDomain{}
	for name, sk := range f.Memory.state.Load().signing {
		fd := fileDomain{Current: sk.current}
		for n, v := range sk.versions {
			fd.Epochs = append(fd.Epochs, fileEpoch{Epoch: n, Key: v.key.Seed(), Created: v.created})
		}
		sort.Slice(fd.Epochs, func(i, j int) bool { return fd.Epochs[i].Epoch < fd.Epochs[j].Epoch })
		p.Signing[name] = fd
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	defer clear(plain)
	env := fileEnvelope{Format: fileFormat, KDF: f.kdf, Cipher: "AES-256-GCM"}
	env.KDF.Salt = make([]byte, 16)
	env.Nonce = make([]byte, 12)
	if _, err := rand.Read(env.KDF.Salt); err != nil {
		return err
	}
	if _, err := rand.Read(env.Nonce); err != nil {
		return err
	}
	aead, err := newAEAD(f.passphrase, env.KDF)
	if err != nil {
		return err
	}
	env.Ciphertext = aead.Seal(nil, env.Nonce, plain, envelopeAAD(env))
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(f.path, out, 0o600)
}

// envelopeAAD binds the header to the ciphertext, so KDF parameters cannot be
// swapped for weaker ones without the open failing.
func envelopeAAD(env fileEnvelope) []byte {
	return fmt.Appendf(nil, "%s|%s|%d|%d|%d|%x|%s", env.Format, env.KDF.Alg, env.KDF.Time, env.KDF.MemoryKiB, env.KDF.Threads, env.KDF.Salt, env.Cipher)
}

func newAEAD(passphrase []byte, kdf KDF) (cipher.AEAD, error) {
	if kdf.Time == 0 || kdf.MemoryKiB < 8 || kdf.Threads == 0 || len(kdf.Salt) < 16 {
		return nil, errors.New("keys: keyring KDF parameters are too weak or missing")
	}
	// Bounds against a doctored file that would make opening it exhaust memory or time.
	if kdf.Time > 16 || kdf.MemoryKiB > 4<<20 || kdf.Threads > 64 || len(kdf.Salt) > 64 {
		return nil, errors.New("keys: keyring KDF parameters are out of range")
	}
	key := argon2.IDKey(passphrase, kdf.Salt, kdf.Time, kdf.MemoryKiB, kdf.Threads, 32)
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("keys: write keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: write keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadPassphrase returns the keyring passphrase from an environment variable
// or, if env is empty, from a file (its first line). It never appears in logs.
func ReadPassphrase(env, file string) ([]byte, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("keys: passphrase variable %s is not set", env)
		}
		return []byte(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("keys: read passphrase file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return nil, fmt.Errorf("keys: passphrase file %s is empty", file)
		}
		return []byte(line), nil
	}
	return nil, errors.New("keys: no passphrase source: set a passphrase environment variable or a passphrase file")
}
