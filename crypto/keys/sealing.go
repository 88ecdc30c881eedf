package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// sealingAEAD is the AEAD of a named sealing key. Sealing keys are random
// keys of their own, kept in the keyring beside the signing keys, so that a
// pseudonym key never doubles as an encryption key.
func (m *Memory) sealingAEAD(name string) (cipher.AEAD, error) {
	k, ok := m.state.Load().sealing[name]
	if !ok {
		return nil, fmt.Errorf("%w: sealing key %s", ErrUnknownKey, name)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal implements Sealer with AES-256-GCM; the output is nonce || ciphertext.
func (m *Memory) Seal(ctx context.Context, name string, plaintext, aad []byte) ([]byte, error) {
	aead, err := m.sealingAEAD(name)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("%w: no randomness: %w", ErrUnavailable, err)
	}
	return aead.Seal(nonce, nonce, plaintext, bindAAD(name, aad)), nil
}

// Open implements Sealer.
func (m *Memory) Open(ctx context.Context, name string, sealed, aad []byte) ([]byte, error) {
	aead, err := m.sealingAEAD(name)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, ErrSealed
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], bindAAD(name, aad))
	if err != nil {
		return nil, ErrSealed
	}
	return out, nil
}

// bindAAD puts the key's name into the associated data, so a ciphertext
// sealed under one name never opens under another.
func bindAAD(name string, aad []byte) []byte {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(aad)
	return h.Sum(nil)
}
