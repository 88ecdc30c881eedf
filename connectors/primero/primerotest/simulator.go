// Package primerotest simulates the parts of Primero v2's documented REST API
// that the connector uses: POST /api/v2/tokens and GET /api/v2/cases with
// page, per_page and a last_updated_at range. A page can be made to fail.
package primerotest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running simulator.
type Server struct {
	URL      string
	User     string
	Password string

	mu       sync.Mutex
	cases    []map[string]any
	failPage int
	token    string
}

// Start runs a simulator holding the given cases (each needs "id" and
// "last_updated_at").
func Start(t testing.TB, cases []map[string]any) *Server {
	t.Helper()
	s := &Server{User: "primero", Password: "primero-pass", cases: cases, token: "eyJ.sim.token"}
	sort.Slice(s.cases, func(i, j int) bool {
		return s.cases[i]["last_updated_at"].(string) < s.cases[j]["last_updated_at"].(string)
	})
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// FailPage makes a page answer 500 (0 for none).
func (s *Server) FailPage(n int) { s.mu.Lock(); s.failPage = n; s.mu.Unlock() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tokens":
		var body struct {
			User struct {
				UserName string `json:"user_name"`
				Password string `json:"password"`
			} `json:"user"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.User.UserName != s.User || body.User.Password != s.Password {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"Invalid email or password."}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": 1, "user_name": s.User, "token": s.token})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/cases":
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.list(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	if page < 1 || per < 1 {
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	if page == s.failPage {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"errors":[{"status":500,"message":"Internal Server Error"}]}`))
		return
	}
	var from time.Time
	if v := q.Get("last_updated_at"); v != "" {
		from, _ = time.Parse(time.RFC3339, strings.TrimSuffix(v, ".."))
	}
	var match []map[string]any
	for _, c := range s.cases {
		t, _ := time.Parse(time.RFC3339, c["last_updated_at"].(string))
		if !t.Before(from) {
			match = append(match, c)
		}
	}
	lo := min((page-1)*per, len(match))
	hi := min(lo+per, len(match))
	json.NewEncoder(w).Encode(map[string]any{"data": match[lo:hi], "metadata": map[string]int{"total": len(match), "per_page": per, "page": page}})
}
