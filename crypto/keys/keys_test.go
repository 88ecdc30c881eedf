package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/keys/keystest"
)

// testKDF keeps the suite fast; production files use keys.DefaultKDF.
var testKDF = keys.KDF{Alg: "argon2id", Time: 1, MemoryKiB: 64, Threads: 1}

var passphrase = []byte("correct horse battery staple")

func TestMemoryContract(t *testing.T) {
	keystest.Run(t, func(t *testing.T, domains ...string) keystest.Backend {
		m, err := keys.NewMemory(domains...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

func TestFileContract(t *testing.T) {
	keystest.Run(t, func(t *testing.T, domains ...string) keystest.Backend {
		f, err := keys.CreateFile(context.Background(), filepath.Join(t.TempDir(), "keyring.json"), passphrase, testKDF, domains...)
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestFileSurvivesReopenAndRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring.json")
	f, err := keys.CreateFile(ctx, path, passphrase, testKDF, "errp", "tumar.internal")
	if err != nil {
		t.Fatal(err)
	}
	in := [][]byte{[]byte("person")}
	before, _ := f.Pseudonymize(ctx, "errp", in)
	if _, err := f.Rotate(ctx, "errp"); err != nil {
		t.Fatal(err)
	}
	g, err := keys.OpenFile(path, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	old, err := g.PseudonymizeAt(ctx, "errp", 1, in)
	if err != nil || old[0] != before[0] {
		t.Fatalf("epoch 1 after reopen: %v %v", old, err)
	}
	cur, _ := g.Pseudonymize(ctx, "errp", in)
	if cur[0].Epoch != 2 {
		t.Fatalf("current epoch after reopen = %d, want 2", cur[0].Epoch)
	}
}

func TestFileIsEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := keys.CreateFile(ctx, path, passphrase, testKDF, "errp"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("errp")) || bytes.Contains(raw, []byte(`"key"`)) {
		t.Fatal("the keyring file shows its content in clear")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := keys.OpenFile(path, []byte("wrong passphrase here")); !errors.Is(err, keys.ErrBadPassphrase) {
		t.Fatalf("want ErrBadPassphrase, got %v", err)
	}
	if _, err := keys.CreateFile(ctx, path, passphrase, testKDF, "errp"); err == nil {
		t.Fatal("CreateFile overwrote an existing keyring")
	}
}

func TestPseudonymString(t *testing.T) {
	m, _ := keys.NewMemory("errp")
	ps, _ := m.Pseudonymize(context.Background(), "errp", [][]byte{[]byte("x")})
	s := ps[0].String()
	back, err := keys.ParsePseudonym(s)
	if err != nil || back != ps[0] {
		t.Fatalf("round trip of %q: %v %v", s, back, err)
	}
	for _, bad := range []string{"", "errp", "errp:1:abc", "errp:v0:" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), "Errp:v1:x", "errp:v1:short"} {
		if _, err := keys.ParsePseudonym(bad); !errors.Is(err, keys.ErrMalformed) {
			t.Errorf("ParsePseudonym(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestReadPassphrase(t *testing.T) {
	t.Setenv("TUMAR_TEST_PASS", "from-the-environment")
	if p, err := keys.ReadPassphrase("TUMAR_TEST_PASS", ""); err != nil || string(p) != "from-the-environment" {
		t.Fatalf("env: %q %v", p, err)
	}
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("from-a-file\n"), 0o600)
	if p, err := keys.ReadPassphrase("", file); err != nil || string(p) != "from-a-file" {
		t.Fatalf("file: %q %v", p, err)
	}
	if _, err := keys.ReadPassphrase("TUMAR_TEST_UNSET_VAR", ""); err == nil {
		t.Fatal("an unset variable must be an error")
	}
}

func BenchmarkPseudonymize(b *testing.B) {
	m, _ := keys.NewMemory("errp")
	in := [][]byte{[]byte("nb\x00asanbekova jyldyz\x001990-05-12"), []byte("doc\x00AN1234567"), []byte("tel\x00+996555123456")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Pseudonymize(ctx, "errp", in); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParsePseudonym(f *testing.F) {
	m, _ := keys.NewMemory("errp")
	ps, _ := m.Pseudonymize(context.Background(), "errp", [][]byte{[]byte("x")})
	f.Add(ps[0].String())
	f.Add("errp:v0:")
	f.Add("a:v4294967296:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := keys.ParsePseudonym(s)
		if err != nil {
			return
		}
		if back, err := keys.ParsePseudonym(p.String()); err != nil || back != p {
			t.Fatalf("%q parsed but does not round-trip", s)
		}
	})
}

func TestConcurrentRotationsLoseNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := keys.CreateFile(ctx, path, passphrase, testKDF, "errp"); err != nil {
		t.Fatal(err)
	}
	// Two operators each opened the keyring before either rotated.
	a, _ := keys.OpenFile(path, passphrase)
	b, _ := keys.OpenFile(path, passphrase)
	ea, err := a.Rotate(ctx, "errp")
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.Rotate(ctx, "errp")
	if err != nil {
		t.Fatal(err)
	}
	if ea != 2 || eb != 3 {
		t.Fatalf("epochs %d and %d: a rotation was lost or an epoch reused", ea, eb)
	}
	c, _ := keys.OpenFile(path, passphrase)
	p2a, _ := a.PseudonymizeAt(ctx, "errp", 2, [][]byte{[]byte("x")})
	p2c, err := c.PseudonymizeAt(ctx, "errp", 2, [][]byte{[]byte("x")})
	if err != nil || p2a[0] != p2c[0] {
		t.Fatal("epoch 2 has a different key on disk than the one the first operator made")
	}
}

func TestDamagedKeyringIsAnErrorNotAPanic(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyring.json")
	keys.CreateFile(ctx, path, passphrase, testKDF, "errp")
	raw, _ := os.ReadFile(path)
	for name, edit := range map[string]func(map[string]any){
		"short nonce":  func(m map[string]any) { m["nonce"] = "AAAA" },
		"huge memory":  func(m map[string]any) { m["kdf"].(map[string]any)["memory_kib"] = 1 << 30 },
		"weak kdf":     func(m map[string]any) { m["kdf"].(map[string]any)["time"] = 0 },
		"wrong format": func(m map[string]any) { m["format"] = "other" },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(raw, &m)
			edit(m)
			b, _ := json.Marshal(m)
			bad := filepath.Join(t.TempDir(), "k.json")
			os.WriteFile(bad, b, 0o600)
			if _, err := keys.OpenFile(bad, passphrase); err == nil {
				t.Fatal("a damaged keyring opened")
			}
		})
	}
}
