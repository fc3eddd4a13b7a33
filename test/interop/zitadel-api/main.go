// A tiny API protected with zitadel/oidc's resource-server package (pkg/client/rs): OpenID discovery of
// Tokenwarden's metadata, then RFC 7662 introspection with client_secret_basic for every request.
//
//   - /api/hello: any active token; /api/read and /api/write: the token's scope must contain that word;
//   - no token, or an inactive one: 401 WWW-Authenticate: Bearer (error="invalid_token" for an inactive one); a
//     missing scope: 403 error="insufficient_scope"; Tokenwarden unreachable or 503: 503, never a guess;
//   - admitted: 200, with the token's sub (the PAT's user) in X-Remote-User, and the path as the body.
//
// Environment: ISSUER (Tokenwarden's https URL, exactly as its discovery document says), CLIENT_ID, CLIENT_SECRET
// (a client registered with POST /api/clients), PORT (default 8080; 0 picks a free one). Prints "listening <port>"
// once discovery has succeeded.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// documents maps each path to the scope it needs ("" for any active token).
var documents = map[string]string{"/api/hello": "", "/api/read": "read", "/api/write": "write"}

var bearer = regexp.MustCompile(`^(?i:bearer) ([\x21-\x7e]+)$`)

func answer(w http.ResponseWriter, status int, headers map[string]string, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	for name, value := range headers {
		w.Header().Set(name, value)
	}
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func main() {
	issuer, clientID, clientSecret := os.Getenv("ISSUER"), os.Getenv("CLIENT_ID"), os.Getenv("CLIENT_SECRET")
	if issuer == "" || clientID == "" || clientSecret == "" {
		fmt.Fprintln(os.Stderr, "ISSUER, CLIENT_ID and CLIENT_SECRET are required")
		os.Exit(1)
	}
	server, err := rs.NewResourceServerClientCredentials(context.Background(), issuer, clientID, clientSecret)
	if err != nil {
		fmt.Fprintln(os.Stderr, "discovery failed:", err)
		os.Exit(1)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		required, known := documents[r.URL.Path]
		if !known {
			answer(w, http.StatusNotFound, nil, "not found\n")
			return
		}
		match := bearer.FindStringSubmatch(r.Header.Get("Authorization"))
		if match == nil {
			answer(w, http.StatusUnauthorized, map[string]string{"WWW-Authenticate": "Bearer"}, "no bearer token\n")
			return
		}
		token, err := rs.Introspect[*oidc.IntrospectionResponse](r.Context(), server, match[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "introspection failed:", err)
			answer(w, http.StatusServiceUnavailable, nil, "introspection failed\n")
			return
		}
		if !token.Active {
			challenge := map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}
			answer(w, http.StatusUnauthorized, challenge, "inactive token\n")
			return
		}
		if required != "" && !slices.Contains(token.Scope, required) {
			headers := map[string]string{
				"X-Remote-User":    token.Subject,
				"WWW-Authenticate": fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, required),
			}
			answer(w, http.StatusForbidden, headers, "insufficient scope\n")
			return
		}
		answer(w, http.StatusOK, map[string]string{"X-Remote-User": token.Subject}, r.URL.Path+"\n")
	})

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	if err := http.Serve(listener, handler); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
