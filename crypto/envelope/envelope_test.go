package envelope_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tumarproject/tumar/crypto/envelope"
)

var record = []byte(`{"exchange_id":"x-1","record":{"vic_TypeOfExploitation":["ForcedLabour"]}}`)

func TestSealAndOpen(t *testing.T) {
	for _, s := range []envelope.Suite{envelope.XWing, envelope.X25519} {
		t.Run(string(s), func(t *testing.T) {
			k, err := envelope.GenerateKey(s)
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Seal(&k.Public, "consulate-moscow", record, []byte("x-1"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(env, []byte("ForcedLabour")) {
				t.Fatal("the envelope holds the record in clear")
			}
			got, err := envelope.Open(k, "consulate-moscow", env, []byte("x-1"))
			if err != nil || !bytes.Equal(got, record) {
				t.Fatalf("open: %v", err)
			}

			// The published key round-trips and seals to the same recipient.
			pub, _ := json.Marshal(&k.Public)
			parsed, err := envelope.ParsePublicKey(pub)
			if err != nil || parsed.ID != k.Public.ID {
				t.Fatalf("public key: %v", err)
			}
			raw, _ := k.MarshalPrivate()
			k2, err := envelope.ParsePrivateKey(s, raw)
			if err != nil || k2.Public.ID != k.Public.ID {
				t.Fatalf("private key: %v", err)
			}
			if _, err := envelope.Open(k2, "consulate-moscow", env, []byte("x-1")); err != nil {
				t.Fatalf("open with the reloaded key: %v", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	k, _ := envelope.GenerateKey(envelope.XWing)
	other, _ := envelope.GenerateKey(envelope.XWing)
	classic, _ := envelope.GenerateKey(envelope.X25519)
	env, _ := envelope.Seal(&k.Public, "consulate-moscow", record, []byte("x-1"))
	var parsed envelope.Envelope
	json.Unmarshal(env, &parsed)
	reencode := func(edit func(*envelope.Envelope)) []byte {
		c := parsed
		c.Ciphertext = append([]byte(nil), parsed.Ciphertext...)
		c.Enc = append([]byte(nil), parsed.Enc...)
		edit(&c)
		b, _ := json.Marshal(&c)
		return b
	}
	for name, tc := range map[string]struct {
		key       *envelope.PrivateKey
		recipient string
		env, aad  []byte
		want      error
	}{
		"another agency's key":        {other, "consulate-moscow", env, []byte("x-1"), envelope.ErrRecipient},
		"another agency":              {k, "errp", env, []byte("x-1"), envelope.ErrRecipient},
		"relabelled for another":      {k, "errp", reencode(func(e *envelope.Envelope) { e.Recipient = "errp" }), []byte("x-1"), envelope.ErrTampered},
		"other associated data":       {k, "consulate-moscow", env, []byte("x-2"), envelope.ErrTampered},
		"tampered tag":                {k, "consulate-moscow", reencode(func(e *envelope.Envelope) { e.Ciphertext[len(e.Ciphertext)-1] ^= 1 }), []byte("x-1"), envelope.ErrTampered},
		"tampered encapsulation":      {k, "consulate-moscow", reencode(func(e *envelope.Envelope) { e.Enc[0] ^= 1 }), []byte("x-1"), envelope.ErrTampered},
		"suite not on the allow-list": {k, "consulate-moscow", reencode(func(e *envelope.Envelope) { e.Suite = "p256-hkdfsha256-aes128gcm" }), []byte("x-1"), envelope.ErrSuite},
		"suite downgraded":            {classic, "consulate-moscow", reencode(func(e *envelope.Envelope) { e.Suite = envelope.X25519 }), []byte("x-1"), envelope.ErrMalformed},
		"cut short":                   {k, "consulate-moscow", reencode(func(e *envelope.Envelope) { e.Enc = e.Enc[:10] }), []byte("x-1"), envelope.ErrMalformed},
		"not JSON":                    {k, "consulate-moscow", []byte("{"), nil, envelope.ErrMalformed},
	} {
		_, err := envelope.Open(tc.key, tc.recipient, tc.env, tc.aad)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	if _, err := envelope.GenerateKey("rsa"); !errors.Is(err, envelope.ErrSuite) {
		t.Errorf("GenerateKey(rsa): %v", err)
	}
	pub, _ := json.Marshal(&k.Public)
	forged := bytes.Replace(pub, []byte(k.Public.ID), []byte(other.Public.ID), 1)
	if _, err := envelope.ParsePublicKey(forged); !errors.Is(err, envelope.ErrMalformed) {
		t.Errorf("a public key under another id was accepted: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := envelope.GenerateKey(envelope.X25519)
	env, _ := envelope.Seal(&k.Public, "errp", record, nil)
	f.Add(env)
	f.Add([]byte(`{"v":1,"suite":"xwing-hkdfsha256-aes256gcm","recipient":"errp","kid":"a","enc":"","ct":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := envelope.Open(k, "errp", b, nil)
		if err == nil && !bytes.Equal(pt, record) {
			t.Fatal("an envelope opened to something never sealed")
		}
		if err != nil && !errors.Is(err, envelope.ErrMalformed) && !errors.Is(err, envelope.ErrSuite) &&
			!errors.Is(err, envelope.ErrRecipient) && !errors.Is(err, envelope.ErrTampered) {
			t.Fatalf("an error of no known kind: %v", err)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	k, _ := envelope.GenerateKey(envelope.XWing)
	pub, _ := json.Marshal(&k.Public)
	f.Add(pub)
	f.Add([]byte(`{"suite":"x25519-hkdfsha256-aes256gcm","kid":"x","key":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := envelope.ParsePublicKey(b); err != nil && !errors.Is(err, envelope.ErrMalformed) && !errors.Is(err, envelope.ErrSuite) {
			t.Fatalf("an error of no known kind: %v", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for _, s := range []envelope.Suite{envelope.X25519, envelope.XWing} {
		b.Run(string(s), func(b *testing.B) {
			k, _ := envelope.GenerateKey(s)
			rec := bytes.Repeat([]byte("x"), 1600) // a released record's size
			b.ReportAllocs()
			for b.Loop() {
				if _, err := envelope.Seal(&k.Public, "consulate-moscow", rec, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, s := range []envelope.Suite{envelope.X25519, envelope.XWing} {
		b.Run(string(s), func(b *testing.B) {
			k, _ := envelope.GenerateKey(s)
			env, _ := envelope.Seal(&k.Public, "consulate-moscow", bytes.Repeat([]byte("x"), 1600), nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := envelope.Open(k, "consulate-moscow", env, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
		})
	}
}
