package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/crypto/envelope"
)

func TestEnvelopeCommands(t *testing.T) {
	dir := t.TempDir()
	if out, err := tumar(t, "envelope", "keygen", "--name", "consulate-moscow", "--out-dir", dir); err != nil || !strings.Contains(out, "key id") {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "consulate-moscow-envelope.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the private key file: %v", err)
	}
	if _, err := tumar(t, "envelope", "keygen", "--name", "consulate-moscow", "--out-dir", dir); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	record := filepath.Join(dir, "record.json")
	os.WriteFile(record, []byte(`{"prs_FirstName":"Айгүл"}`), 0o600)
	env, err := tumar(t, "envelope", "seal", "--to", filepath.Join(dir, "consulate-moscow-envelope.pub.json"), "--recipient", "consulate-moscow", "--in", record, "--aad", "x-1")
	if err != nil || strings.Contains(env, "Айгүл") {
		t.Fatalf("seal: %v", err)
	}
	sealed := filepath.Join(dir, "record.env")
	os.WriteFile(sealed, []byte(env), 0o600)
	key := filepath.Join(dir, "consulate-moscow-envelope.key")
	out, err := tumar(t, "envelope", "open", "--key", key, "--recipient", "consulate-moscow", "--in", sealed, "--aad", "x-1")
	if err != nil || out != `{"prs_FirstName":"Айгүл"}` {
		t.Fatalf("open: %v %q", err, out)
	}
	_, err = tumar(t, "envelope", "open", "--key", key, "--recipient", "errp", "--in", sealed, "--aad", "x-1")
	if !errors.Is(err, envelope.ErrRecipient) || strings.Contains(err.Error(), "Айгүл") {
		t.Fatalf("open for another agency: %v", err)
	}
	if _, err := tumar(t, "envelope", "open", "--key", key, "--recipient", "consulate-moscow", "--in", sealed, "--aad", "x-2"); !errors.Is(err, envelope.ErrTampered) {
		t.Fatalf("open with other associated data: %v", err)
	}
}
