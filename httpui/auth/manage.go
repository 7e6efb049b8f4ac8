package auth

import (
	"encoding/json"
	"net/http"
)

// ControlHandler serves user and token management as JSON for the control
// socket, whose file permissions are its access control: it trusts every
// caller. Never serve it on the web port; serve AdminAPI there.
//
//	GET    /api/v1/users                  → UsersPage
//	POST   /api/v1/users                  {"name","role","password"} → 201 UserInfo
//	DELETE /api/v1/users/{name}           → 204
//	PUT    /api/v1/users/{name}/password  {"password"} → 204 (must change at next login)
//	GET    /api/v1/tokens                 → [TokenInfo]
//	POST   /api/v1/tokens                 {"name","role"} → 201 {"name","role","token"}
//	DELETE /api/v1/tokens/{name}          → 204
//
// Errors are {"error": "..."} with StatusOf's code.
func (m *Manager) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, m.Users())
	})
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name     string `json:"name"`
			Role     Role   `json:"role"`
			Password string `json:"password"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Role == "" {
			req.Role = RoleViewer
		}
		if err := m.Store.AddUser(req.Name, req.Role, req.Password); err != nil {
			writeJSON(w, StatusOf(err), err.Error())
			return
		}
		u, _ := m.Store.User(req.Name)
		answer(w, http.StatusCreated, u)
	})
	mux.HandleFunc("DELETE /api/v1/users/{name}", func(w http.ResponseWriter, r *http.Request) {
		actor, _ := UserFrom(r.Context())
		done(w, m.RemoveUser(actor, r.PathValue("name")))
	})
	mux.HandleFunc("PUT /api/v1/users/{name}/password", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Password string `json:"password"`
		}
		if decode(w, r, &req) {
			done(w, m.ResetPassword(r.PathValue("name"), req.Password))
		}
	})
	mux.HandleFunc("GET /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusOK, m.Store.ListTokens())
	})
	mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
			Role Role   `json:"role"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Role == "" {
			req.Role = RoleViewer
		}
		secret, err := m.Store.CreateToken(req.Name, req.Role)
		if err != nil {
			writeJSON(w, StatusOf(err), err.Error())
			return
		}
		answer(w, http.StatusCreated, map[string]string{"name": req.Name, "role": string(req.Role), "token": secret})
	})
	mux.HandleFunc("DELETE /api/v1/tokens/{name}", func(w http.ResponseWriter, r *http.Request) {
		done(w, m.Store.RevokeToken(r.PathValue("name")))
	})
	return mux
}

// AdminAPI is ControlHandler for the web port: admins only (session with
// CSRF token, or an admin API token).
func (m *Manager) AdminAPI() http.Handler { return m.Require(RoleAdmin)(m.ControlHandler()) }

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func done(w http.ResponseWriter, err error) {
	if err != nil {
		writeJSON(w, StatusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
