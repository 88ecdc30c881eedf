// Package vaulttest is a Vault-compatible server for tests, built from Vault's
// documented HTTP API for exactly the endpoints Tumar uses: the transit
// engine's keys, HMAC and signing, mounts, ACL policies, token, AppRole and
// Kubernetes logins, and health. It answers as Vault does: the same paths and
// JSON, "vault:vN:" outputs, {"errors": [...]} bodies, 403 for a bad token,
// 503 when sealed, Vault's JSON array and request size limits.
//
// It can be switched into failure modes (down, sealed, slow, permission
// denied) so that callers can prove they fail closed. It is not Vault: it
// keeps everything in memory, enforces no ACL beyond a token's existence, and
// implements only what Tumar calls.
package vaulttest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Vault's documented limits.
const (
	MaxRequestBytes  = 32 << 20 // max_request_size
	MaxArrayElements = 10000    // max_json_array_element_count
)

// Mode is a failure mode.
type Mode int

// The failure modes.
const (
	Healthy          Mode = iota
	Down                  // connections are dropped without an answer
	Sealed                // 503 {"errors":["Vault is sealed"]}
	PermissionDenied      // 403 for every authenticated request
)

// Server is a running Vault-compatible test server.
type Server struct {
	URL       string
	RootToken string

	mu      sync.RWMutex // guards the state below; HMAC and signing take it shared
	mode    Mode
	delay   time.Duration
	mounts  map[string]string // path -> type
	keys    map[string]*transitKey
	tokens  map[string]*token
	roles   map[string]string // AppRole role_id -> secret_id
	k8s     map[string]string // Kubernetes role -> accepted JWT
	policy  map[string]string
	ttl     time.Duration
	httpSrv *httptest.Server

	callsMu sync.Mutex
	calls   map[string]int
}

type token struct {
	expires   time.Time
	renewable bool
	policies  []string
}

type transitKey struct {
	typ      string
	latest   int
	minDec   int
	minEnc   int
	versions map[int]*keyVersion
}

type keyVersion struct {
	created time.Time
	hmacKey []byte
	private ed25519.PrivateKey
}

// New starts a server with a root token and the transit engine not mounted.
// It stops when the test ends.
func New(t interface {
	Helper()
	Cleanup(func())
}) *Server {
	t.Helper()
	s := &Server{
		RootToken: "root-" + randHex(8),
		mounts:    map[string]string{"secret/": "kv", "sys/": "system"},
		keys:      map[string]*transitKey{},
		tokens:    map[string]*token{},
		roles:     map[string]string{},
		k8s:       map[string]string{},
		policy:    map[string]string{},
		ttl:       time.Hour,
		calls:     map[string]int{},
	}
	s.tokens[s.RootToken] = &token{policies: []string{"root"}}
	s.httpSrv = httptest.NewServer(s)
	s.URL = s.httpSrv.URL
	t.Cleanup(s.httpSrv.Close)
	return s
}

// SetMode switches the server into a failure mode, or back to Healthy.
func (s *Server) SetMode(m Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetDelay makes every request wait d before it is answered.
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetTokenTTL sets the lifetime of tokens issued by later logins.
func (s *Server) SetTokenTTL(d time.Duration) { s.mu.Lock(); s.ttl = d; s.mu.Unlock() }

// AddAppRole registers an AppRole login.
func (s *Server) AddAppRole(roleID, secretID string) {
	s.mu.Lock()
	s.roles[roleID] = secretID
	s.mu.Unlock()
}

// AddKubernetesRole registers a Kubernetes login that accepts one JWT.
func (s *Server) AddKubernetesRole(role, jwt string) {
	s.mu.Lock()
	s.k8s[role] = jwt
	s.mu.Unlock()
}

// RevokeAll revokes every token, as an operator or a lost lease would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]*token{}
}

// Calls returns how many requests reached a path, e.g. "transit/hmac".
func (s *Server) Calls(prefix string) int {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	n := 0
	for p, c := range s.calls {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// Policy returns an ACL policy written to the server.
func (s *Server) Policy(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policy[name]
	return p, ok
}

// ServeHTTP implements Vault's HTTP API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	mode, delay := s.mode, s.delay
	s.mu.RUnlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	switch {
	case mode == Down:
		hijackAndClose(w)
		return
	case path == "sys/health":
		s.health(w, r, mode)
		return
	case mode == Sealed:
		writeErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	var body map[string]json.RawMessage
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && err.Error() != "EOF" {
			if strings.Contains(err.Error(), "too large") {
				writeErrors(w, http.StatusRequestEntityTooLarge, "http: request body too large")
				return
			}
			writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
	}
	s.callsMu.Lock()
	s.calls[path]++
	s.callsMu.Unlock()
	if readOnly(r.Method, path) {
		s.mu.RLock()
		defer s.mu.RUnlock()
	} else {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if strings.HasPrefix(path, "auth/approle/login") || strings.HasPrefix(path, "auth/kubernetes/login") {
		s.login(w, path, body)
		return
	}
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	t, ok := s.tokens[tok]
	if !ok || (!t.expires.IsZero() && time.Now().After(t.expires)) || mode == PermissionDenied {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	s.route(w, r.Method, path, tok, body)
}

// readOnly reports whether a request leaves the server's state unchanged, so
// that concurrent HMAC batches run in parallel as they do in Vault.
func readOnly(method, path string) bool {
	if method == http.MethodGet {
		return true
	}
	return strings.Contains(path, "/hmac/") || strings.Contains(path, "/sign/") || strings.Contains(path, "/encrypt/") ||
		strings.Contains(path, "/decrypt/") || path == "auth/token/lookup-self"
}

func (s *Server) route(w http.ResponseWriter, method, path, tok string, body map[string]json.RawMessage) {
	parts := strings.Split(path, "/")
	switch {
	case path == "auth/token/lookup-self":
		s.lookupSelf(w, tok)
	case path == "auth/token/renew-self":
		s.renewSelf(w, tok, body)
	case path == "sys/mounts" && method == http.MethodGet:
		s.listMounts(w)
	case len(parts) >= 3 && parts[0] == "sys" && parts[1] == "mounts":
		s.mount(w, strings.Join(parts[2:], "/"), body)
	case len(parts) == 4 && parts[0] == "sys" && parts[1] == "policies" && parts[2] == "acl":
		s.putPolicy(w, method, parts[3], body)
	case len(parts) >= 3 && s.mounts[parts[0]+"/"] == "transit":
		s.transit(w, method, parts[1:], body)
	default:
		writeErrors(w, http.StatusNotFound, "no handler for route \""+path+"\". route entry not found.")
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, mode Mode) {
	status := http.StatusOK
	if mode == Sealed {
		status = http.StatusServiceUnavailable
		if c := r.URL.Query().Get("sealedcode"); c != "" {
			status, _ = strconv.Atoi(c)
		}
	}
	writeJSON(w, status, map[string]any{"initialized": true, "sealed": mode == Sealed, "standby": false, "version": "1.21.4+tumar-test", "server_time_utc": time.Now().Unix()})
}

func (s *Server) login(w http.ResponseWriter, path string, body map[string]json.RawMessage) {
	var ok bool
	if strings.HasPrefix(path, "auth/approle/") {
		secret, known := s.roles[str(body, "role_id")]
		ok = known && secret == str(body, "secret_id")
	} else {
		jwt, known := s.k8s[str(body, "role")]
		ok = known && jwt == str(body, "jwt")
	}
	if !ok {
		writeErrors(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	tok := "hvs." + randHex(16)
	s.tokens[tok] = &token{expires: time.Now().Add(s.ttl), renewable: true, policies: []string{"tumar-gateway"}}
	writeJSON(w, http.StatusOK, map[string]any{"auth": s.authBlock(tok)})
}

func (s *Server) authBlock(tok string) map[string]any {
	t := s.tokens[tok]
	return map[string]any{"client_token": tok, "accessor": "acc-" + tok[len(tok)-6:], "policies": t.policies,
		"token_policies": t.policies, "lease_duration": int(time.Until(t.expires).Seconds()), "renewable": t.renewable}
}

func (s *Server) lookupSelf(w http.ResponseWriter, tok string) {
	t := s.tokens[tok]
	ttl := 0
	if !t.expires.IsZero() {
		ttl = int(time.Until(t.expires).Seconds())
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": tok, "ttl": ttl, "renewable": t.renewable, "policies": t.policies}})
}

func (s *Server) renewSelf(w http.ResponseWriter, tok string, body map[string]json.RawMessage) {
	t := s.tokens[tok]
	if !t.renewable {
		writeErrors(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	t.expires = time.Now().Add(s.ttl)
	writeJSON(w, http.StatusOK, map[string]any{"auth": s.authBlock(tok)})
}

func (s *Server) listMounts(w http.ResponseWriter) {
	data := map[string]any{}
	for p, typ := range s.mounts {
		data[p] = map[string]any{"type": typ, "description": "", "options": map[string]string{}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (s *Server) mount(w http.ResponseWriter, path string, body map[string]json.RawMessage) {
	path = strings.TrimSuffix(path, "/") + "/"
	if _, ok := s.mounts[path]; ok {
		writeErrors(w, http.StatusBadRequest, "path is already in use at "+path)
		return
	}
	s.mounts[path] = str(body, "type")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putPolicy(w http.ResponseWriter, method, name string, body map[string]json.RawMessage) {
	if method == http.MethodGet {
		p, ok := s.policy[name]
		if !ok {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"name": name, "policy": p}})
		return
	}
	s.policy[name] = str(body, "policy")
	w.WriteHeader(http.StatusNoContent)
}

// transit serves transit/keys/:name[/rotate|/config], transit/hmac/:name[/:alg]
// and transit/sign/:name.
func (s *Server) transit(w http.ResponseWriter, method string, parts []string, body map[string]json.RawMessage) {
	op, name := parts[0], parts[1]
	switch {
	case op == "keys" && len(parts) == 2 && method == http.MethodGet:
		s.readKey(w, name)
	case op == "keys" && len(parts) == 2:
		s.createKey(w, name, body)
	case op == "keys" && len(parts) == 3 && parts[2] == "rotate":
		s.rotateKey(w, name)
	case op == "keys" && len(parts) == 3 && parts[2] == "config":
		s.configKey(w, name, body)
	case op == "hmac" && (len(parts) == 2 || len(parts) == 3):
		alg := "sha2-256"
		if len(parts) == 3 {
			alg = parts[2]
		}
		s.hmac(w, name, alg, body)
	case op == "sign" && len(parts) == 2:
		s.sign(w, name, body)
	case op == "encrypt" && len(parts) == 2:
		s.encrypt(w, name, body)
	case op == "decrypt" && len(parts) == 2:
		s.decrypt(w, name, body)
	default:
		writeErrors(w, http.StatusNotFound, "unsupported path")
	}
}

func (s *Server) createKey(w http.ResponseWriter, name string, body map[string]json.RawMessage) {
	typ := str(body, "type")
	if typ == "" {
		typ = "aes256-gcm96"
	}
	if typ != "aes256-gcm96" && typ != "ed25519" && typ != "hmac" {
		writeErrors(w, http.StatusBadRequest, "unknown key type "+typ)
		return
	}
	if _, ok := s.keys[name]; !ok {
		k := &transitKey{typ: typ, minDec: 1, versions: map[int]*keyVersion{}}
		k.addVersion()
		s.keys[name] = k
	}
	s.readKey(w, name)
}

func (k *transitKey) addVersion() {
	k.latest++
	v := &keyVersion{created: time.Now(), hmacKey: randBytes(32)}
	if k.typ == "ed25519" {
		_, v.private, _ = ed25519.GenerateKey(rand.Reader)
	}
	k.versions[k.latest] = v
}

func (s *Server) readKey(w http.ResponseWriter, name string) {
	k, ok := s.keys[name]
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := map[string]any{}
	for n, v := range k.versions {
		if n < k.minDec {
			continue
		}
		if k.typ == "ed25519" {
			versions[strconv.Itoa(n)] = map[string]any{"name": "ed25519", "creation_time": v.created.Format(time.RFC3339Nano),
				"public_key": base64.StdEncoding.EncodeToString(v.private.Public().(ed25519.PublicKey))}
		} else {
			versions[strconv.Itoa(n)] = v.created.Unix()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"name": name, "type": k.typ, "latest_version": k.latest, "min_decryption_version": k.minDec,
		"min_encryption_version": k.minEnc, "keys": versions, "deletion_allowed": false, "exportable": false,
		"supports_signing": k.typ == "ed25519", "supports_encryption": k.typ == "aes256-gcm96",
	}})
}

func (s *Server) rotateKey(w http.ResponseWriter, name string) {
	k, ok := s.keys[name]
	if !ok {
		writeErrors(w, http.StatusBadRequest, "key not found")
		return
	}
	k.addVersion()
	s.readKey(w, name)
}

func (s *Server) configKey(w http.ResponseWriter, name string, body map[string]json.RawMessage) {
	k, ok := s.keys[name]
	if !ok {
		writeErrors(w, http.StatusBadRequest, "no existing key named "+name+" could be found")
		return
	}
	if v, ok := num(body, "min_decryption_version"); ok {
		k.minDec = v
	}
	if v, ok := num(body, "min_encryption_version"); ok {
		k.minEnc = v
	}
	if k.minEnc != 0 && k.minEnc < k.minDec {
		writeErrors(w, http.StatusBadRequest, "cannot set min_encryption_version below min_decryption_version")
		return
	}
	s.readKey(w, name)
}

// version resolves a requested key version as transit does: 0 means latest;
// below the minimum or above the latest is an error.
func (k *transitKey) version(requested int) (int, string) {
	v := requested
	if v == 0 {
		v = k.latest
	}
	switch {
	case v > k.latest:
		return 0, "cannot use key version " + strconv.Itoa(v) + ": version is greater than the latest version"
	case v < k.minDec || (k.minEnc != 0 && v < k.minEnc):
		return 0, "cannot use key version " + strconv.Itoa(v) + ": version is below the minimum allowed"
	}
	return v, ""
}

func (s *Server) hmac(w http.ResponseWriter, name, alg string, body map[string]json.RawMessage) {
	k, ok := s.keys[name]
	if !ok {
		writeErrors(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	var newHash func() hash.Hash
	switch alg {
	case "sha2-256":
		newHash = sha256.New
	case "sha2-512":
		newHash = sha512.New
	default:
		writeErrors(w, http.StatusBadRequest, "unsupported algorithm "+alg)
		return
	}
	requested, _ := num(body, "key_version")
	ver, problem := k.version(requested)
	if problem != "" {
		writeErrors(w, http.StatusBadRequest, problem)
		return
	}
	mac := hmac.New(newHash, k.versions[ver].hmacKey)
	one := func(in string) (string, string) {
		raw, err := base64.StdEncoding.DecodeString(in)
		if err != nil {
			return "", "unable to decode input as base64: " + err.Error()
		}
		mac.Reset()
		mac.Write(raw)
		return "vault:v" + strconv.Itoa(ver) + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil)), ""
	}
	if raw, ok := body["batch_input"]; ok {
		var items []struct {
			Input     string `json:"input"`
			Reference string `json:"reference"`
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			writeErrors(w, http.StatusBadRequest, "failed to parse batch input: "+err.Error())
			return
		}
		if len(items) > MaxArrayElements {
			writeErrors(w, http.StatusBadRequest, "error parsing JSON: array exceeds maximum element count of "+strconv.Itoa(MaxArrayElements))
			return
		}
		results := make([]map[string]string, len(items))
		for i, it := range items {
			out, problem := one(it.Input)
			results[i] = map[string]string{"hmac": out, "reference": it.Reference}
			if problem != "" {
				results[i] = map[string]string{"error": problem, "reference": it.Reference}
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"batch_results": results}})
		return
	}
	out, problem := one(str(body, "input"))
	if problem != "" {
		writeErrors(w, http.StatusBadRequest, problem)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"hmac": out}})
}

func (s *Server) sign(w http.ResponseWriter, name string, body map[string]json.RawMessage) {
	k, ok := s.keys[name]
	if !ok {
		writeErrors(w, http.StatusBadRequest, "signing key not found")
		return
	}
	if k.typ != "ed25519" {
		writeErrors(w, http.StatusBadRequest, "key type "+k.typ+" does not support signing")
		return
	}
	requested, _ := num(body, "key_version")
	ver, problem := k.version(requested)
	if problem != "" {
		writeErrors(w, http.StatusBadRequest, problem)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(str(body, "input"))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "unable to decode input as base64")
		return
	}
	sig := ed25519.Sign(k.versions[ver].private, raw)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"signature": "vault:v" + strconv.Itoa(ver) + ":" + base64.StdEncoding.EncodeToString(sig), "key_version": ver}})
}

// encrypt is transit/encrypt for aes256-gcm96 keys: AES-GCM under the
// version's key, associated_data bound in, output "vault:vN:base64(nonce||ct)".
func (s *Server) encrypt(w http.ResponseWriter, name string, body map[string]json.RawMessage) {
	k, ok := s.keys[name]
	if !ok || k.typ != "aes256-gcm96" {
		writeErrors(w, http.StatusBadRequest, "encryption key not found or not an AEAD key")
		return
	}
	pt, err1 := base64.StdEncoding.DecodeString(str(body, "plaintext"))
	aad, err2 := base64.StdEncoding.DecodeString(str(body, "associated_data"))
	if err1 != nil || err2 != nil {
		writeErrors(w, http.StatusBadRequest, "unable to decode input as base64")
		return
	}
	ver, _ := k.version(0)
	aead := gcm(k.versions[ver].hmacKey)
	nonce := randBytes(aead.NonceSize())
	ct := aead.Seal(nonce, nonce, pt, aad)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"ciphertext": "vault:v" + strconv.Itoa(ver) + ":" + base64.StdEncoding.EncodeToString(ct), "key_version": ver}})
}

func (s *Server) decrypt(w http.ResponseWriter, name string, body map[string]json.RawMessage) {
	k, ok := s.keys[name]
	if !ok || k.typ != "aes256-gcm96" {
		writeErrors(w, http.StatusBadRequest, "encryption key not found or not an AEAD key")
		return
	}
	ct := str(body, "ciphertext")
	rest, ok := strings.CutPrefix(ct, "vault:v")
	verStr, b64, ok2 := strings.Cut(rest, ":")
	ver, err := strconv.Atoi(verStr)
	raw, err2 := base64.StdEncoding.DecodeString(b64)
	aad, err3 := base64.StdEncoding.DecodeString(str(body, "associated_data"))
	v, known := k.versions[ver]
	if !ok || !ok2 || err != nil || err2 != nil || err3 != nil || !known || ver < k.minDec {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext")
		return
	}
	aead := gcm(v.hmacKey)
	if len(raw) < aead.NonceSize() {
		writeErrors(w, http.StatusBadRequest, "invalid ciphertext")
		return
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "cipher: message authentication failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}})
}

func gcm(key []byte) cipher.AEAD {
	block, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(block)
	return a
}

func str(body map[string]json.RawMessage, key string) string {
	var s string
	json.Unmarshal(body[key], &s)
	return s
}

// num reads a JSON number or numeric string, as Vault accepts both.
func num(body map[string]json.RawMessage, key string) (int, bool) {
	raw, ok := body[key]
	if !ok {
		return 0, false
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(s)
	}
	v, err := strconv.Atoi(n.String())
	return v, err == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": errs})
}

func hijackAndClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("vaulttest: no randomness: %v", err))
	}
	return b
}

func randHex(n int) string { return hex.EncodeToString(randBytes(n)) }
