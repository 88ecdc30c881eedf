package consular

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

// NewChecker builds the bundle checker from the configuration: the
// gateway's decryption key and the consulates' trust list.
func NewChecker(c config.Bundles) (*Checker, error) {
	key, err := readP256Private(c.DecryptionKey)
	if err != nil {
		return nil, fmt.Errorf("consular: bundles.decryption_key: %w", err)
	}
	ch := &Checker{Key: key, MaxAge: c.MaxAge.Duration()}
	for i, t := range c.Trust {
		pub, err := ReadEd25519Public(t.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("consular: bundles.trust[%d].public_key: %w", i, err)
		}
		tk := TrustedKey{Consulate: t.Consulate, KeyID: t.KeyID, Key: pub}
		tk.NotBefore, _ = config.ParseTime(t.NotBefore)
		if t.NotAfter != "" {
			tk.NotAfter, _ = config.ParseTime(t.NotAfter)
			tk.NotAfter = tk.NotAfter.Add(24*time.Hour - time.Nanosecond) // a date is valid through its end
		}
		if t.RevokedAt != "" {
			tk.RevokedAt, _ = config.ParseTime(t.RevokedAt)
		}
		ch.Trust = append(ch.Trust, tk)
	}
	return ch, nil
}

// Handler serves POST /v1/bundles: the body is the bundle as packed.
func (im *Importer) Handler() gateway.AgencyHandler {
	return func(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBundleBytes))
		if err != nil {
			return &gateway.Error{Status: http.StatusRequestEntityTooLarge, Code: "bundle_too_large", Message: "the bundle is larger than 64 MiB or could not be read"}
		}
		rep, err := im.Import(r.Context(), body, a.ID)
		switch {
		case errors.Is(err, ErrSequence):
			return &gateway.Error{Status: http.StatusConflict, Code: "sequence_reused", Message: err.Error()}
		case isRefusal(err):
			return &gateway.Error{Status: http.StatusUnprocessableEntity, Code: "bundle_refused", Message: err.Error() + "; nothing in the bundle was imported"}
		case err != nil:
			return &gateway.Error{Status: http.StatusServiceUnavailable, Code: "import_failed", Message: "the import stopped; send the bundle again later (nothing is duplicated)", Err: err}
		}
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusCreated
		if rep.Already {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		return json.NewEncoder(w).Encode(rep)
	}
}

func isRefusal(err error) bool {
	for _, e := range []error{ErrMalformed, ErrDecrypt, ErrUntrusted, ErrSignature, ErrRevoked, ErrStale, ErrManifest, ErrWrongAgent} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func pemBlock(path string) (*pem.Block, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	return b, nil
}

func readP256Private(path string) (*ecdsa.PrivateKey, error) {
	b, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not a P-256 private key")
	}
	return ek, nil
}

// ReadEd25519Public reads a PEM Ed25519 public key (a consulate's signing key).
func ReadEd25519Public(path string) (ed25519.PublicKey, error) {
	b, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 public key")
	}
	return ek, nil
}

// ReadEd25519Private reads a PEM Ed25519 private key (PKCS #8).
func ReadEd25519Private(path string) (ed25519.PrivateKey, error) {
	b, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 private key")
	}
	return ek, nil
}

// ReadP256Public reads a PEM P-256 public key (the gateway's bundle key).
func ReadP256Public(path string) (*ecdsa.PublicKey, error) {
	b, err := pemBlock(path)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not a P-256 public key")
	}
	return ek, nil
}
