package metrics

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	m := New()
	m.Invocation("tenant-a", "secret-project", "$LATEST", 0, true, 0, 0)
	const (
		token = "a scrape token of some length"
		user  = "AKIDadministrator"
		pass  = "the administrator's key"
	)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, tc := range []struct {
		name     string
		scrapers Scrapers
		auth     string
		want     int
	}{
		{"no credentials", Scrapers{Token: token, User: user, Password: pass}, "", 401},
		{"the token", Scrapers{Token: token, User: user, Password: pass}, "Bearer " + token, 200},
		{"the token, the scheme in lower case", Scrapers{Token: token}, "bearer " + token, 200},
		{"another token", Scrapers{Token: token, User: user, Password: pass}, "Bearer " + token + "x", 401},
		{"a prefix of the token", Scrapers{Token: token}, "Bearer " + token[:10], 401},
		{"the token as a Basic password", Scrapers{Token: token}, basic(user, token), 401},
		{"an empty token when none is set", Scrapers{User: user, Password: pass}, "Bearer ", 401},
		{"the administrator's key", Scrapers{User: user, Password: pass}, basic(user, pass), 200},
		{"the administrator's id, another key", Scrapers{User: user, Password: pass}, basic(user, pass+"x"), 401},
		{"another id, the administrator's key", Scrapers{User: user, Password: pass}, basic("AKIDtenant", pass), 401},
		{"the administrator's key as a token", Scrapers{Token: token, User: user, Password: pass}, "Bearer " + pass, 401},
		{"empty Basic credentials, none set", Scrapers{}, basic("", ""), 401},
		{"an empty token, none set", Scrapers{}, "Bearer ", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Guard(m.Handler(), tc.scrapers))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if tc.want == 200 {
				if !strings.Contains(string(body), `function="secret-project"`) {
					t.Errorf("the metrics lack the function's series:\n%.300s", body)
				}
				return
			}
			if strings.Contains(string(body), "secret-project") || strings.Contains(string(body), "scfd_") {
				t.Errorf("a 401 shows metrics: %s", body)
			}
			challenges := res.Header.Values("WWW-Authenticate")
			if len(challenges) == 0 || !strings.HasPrefix(challenges[len(challenges)-1], "Basic ") {
				t.Errorf("WWW-Authenticate %q, want a Basic challenge", challenges)
			}
			if hasBearer := len(challenges) == 2 && strings.HasPrefix(challenges[0], "Bearer "); hasBearer != (tc.scrapers.Token != "") {
				t.Errorf("WWW-Authenticate %q with a token set %v", challenges, tc.scrapers.Token != "")
			}
		})
	}
}
