package tc3

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The worked example of Tencent Cloud's API 3.0 signature document
// ("签名方法 v3", https://cloud.tencent.com/document/api/213/30654): CVM
// DescribeInstances with the document's masked example key. The document's
// older revision signs content-type;host and gives signature 2230eefd...; its
// newer revision also signs x-tc-action (value lowercased) and gives
// be4f67d3....
const (
	exampleID      = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
	exampleKey     = "Gu5t9xGARNpq86cd98joQYCN3*******"
	exampleBody    = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	exampleTime    = 1551113065
	exampleSig     = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
	exampleSigAct  = "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"
	exampleService = "cvm"
)

func exampleRequest(t *testing.T, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "https://cvm.tencentcloudapi.com/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("X-TC-Version", "2017-03-12")
	r.Header.Set("X-TC-Region", "ap-guangzhou")
	return r
}

func lookupExample(id string) (string, error) {
	if id != exampleID {
		return "", ErrSecretIDNotFound
	}
	return exampleKey, nil
}

func TestSignMatchesDocumentExample(t *testing.T) {
	now := time.Unix(exampleTime, 0)
	cred := Credential{SecretID: exampleID, SecretKey: exampleKey}
	for _, tc := range []struct {
		name, action, wantSig, wantHeaders string
	}{
		{"content-type;host", "", exampleSig, "content-type;host"},
		{"with x-tc-action", "DescribeInstances", exampleSigAct, "content-type;host;x-tc-action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exampleRequest(t, exampleBody)
			if tc.action != "" {
				r.Header.Set("X-TC-Action", tc.action)
			}
			if err := Sign(r, []byte(exampleBody), cred, exampleService, now); err != nil {
				t.Fatal(err)
			}
			want := "TC3-HMAC-SHA256 Credential=" + exampleID + "/2019-02-25/cvm/tc3_request, SignedHeaders=" + tc.wantHeaders + ", Signature=" + tc.wantSig
			if got := r.Header.Get("Authorization"); got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
			if got := r.Header.Get("X-TC-Timestamp"); got != "1551113065" {
				t.Errorf("X-TC-Timestamp = %q", got)
			}
			if got := r.Header.Get("X-TC-Region"); got != "ap-guangzhou" {
				t.Errorf("X-TC-Region lost: %q", got)
			}
			if _, err := Verify(r, []byte(exampleBody), lookupExample, now.Add(time.Minute)); err != nil {
				t.Errorf("Verify of the document's example: %v", err)
			}
		})
	}
}

func TestVerifyDocumentAuthorization(t *testing.T) {
	// The Authorization header exactly as the document prints it.
	r := exampleRequest(t, exampleBody)
	r.Header.Set("X-TC-Timestamp", "1551113065")
	r.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+exampleID+"/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature="+exampleSig)
	v, err := Verify(r, []byte(exampleBody), lookupExample, time.Unix(exampleTime, 0))
	if err != nil {
		t.Fatal(err)
	}
	if v.SecretID != exampleID || v.Service != "cvm" || v.Timestamp.Unix() != exampleTime {
		t.Errorf("Verified = %+v", v)
	}
}

func TestVerifyRejects(t *testing.T) {
	base := time.Unix(exampleTime, 0)
	cred := Credential{SecretID: exampleID, SecretKey: exampleKey}
	signed := func(t *testing.T, c Credential, at time.Time) *http.Request {
		r := exampleRequest(t, exampleBody)
		r.Header.Set("X-TC-Action", "DescribeInstances")
		if err := Sign(r, []byte(exampleBody), c, exampleService, at); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		req  func(t *testing.T) (*http.Request, []byte)
		now  time.Time
		want error
	}{
		{"tampered body", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, cred, base), []byte(strings.Replace(exampleBody, "1", "2", 1))
		}, base, ErrSignatureFailure},
		{"wrong key", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, Credential{SecretID: exampleID, SecretKey: "not-the-key"}, base), []byte(exampleBody)
		}, base, ErrSignatureFailure},
		{"unknown SecretId", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, Credential{SecretID: "AKIDunknown", SecretKey: exampleKey}, base), []byte(exampleBody)
		}, base, ErrSecretIDNotFound},
		{"expired timestamp", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, cred, base), []byte(exampleBody)
		}, base.Add(MaxSkew + time.Second), ErrSignatureExpire},
		{"future timestamp", func(t *testing.T) (*http.Request, []byte) {
			return signed(t, cred, base), []byte(exampleBody)
		}, base.Add(-MaxSkew - time.Second), ErrSignatureExpire},
		{"scope date not the timestamp's date", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "2019-02-25", "2019-02-24", 1))
			return r, []byte(exampleBody)
		}, base, ErrSignatureFailure},
		{"tampered signed header", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Set("X-TC-Action", "TerminateInstances")
			return r, []byte(exampleBody)
		}, base, ErrSignatureFailure},
		{"missing Authorization", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Del("Authorization")
			return r, []byte(exampleBody)
		}, base, ErrInvalidAuthorization},
		{"other algorithm", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "TC3-HMAC-SHA256", "HMAC-SHA1", 1))
			return r, []byte(exampleBody)
		}, base, ErrInvalidAuthorization},
		{"host not signed", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-type;host;", "content-type;", 1))
			return r, []byte(exampleBody)
		}, base, ErrInvalidAuthorization},
		{"timestamp not a number", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			r.Header.Set("X-TC-Timestamp", "yesterday")
			return r, []byte(exampleBody)
		}, base, ErrSignatureFailure},
		{"signature not hex", func(t *testing.T) (*http.Request, []byte) {
			r := signed(t, cred, base)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, "Signature=")]+"Signature=zz")
			return r, []byte(exampleBody)
		}, base, ErrInvalidAuthorization},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, body := tc.req(t)
			_, err := Verify(r, body, lookupExample, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if got, want := Code(err), tc.want.(*Error).Code; got != want {
				t.Errorf("Code = %q, want %q", got, want)
			}
		})
	}
}

func TestVerifyAcceptsScopeServiceAndSkewEdges(t *testing.T) {
	// The official SDKs name the service after the endpoint's first label:
	// "127" for 127.0.0.1:9100.
	body := []byte(`{"FunctionName":"f"}`)
	at := time.Date(2025, 3, 1, 23, 59, 30, 0, time.UTC)
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9100/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-TC-Action", "GetFunction")
	cred := Credential{SecretID: "AKIDlocal", SecretKey: "secret", Token: "tok"}
	if err := Sign(r, body, cred, "127", at); err != nil {
		t.Fatal(err)
	}
	lookup := func(id string) (string, error) { return "secret", nil }
	for _, now := range []time.Time{at.Add(MaxSkew), at.Add(-MaxSkew)} {
		v, err := Verify(r, body, lookup, now)
		if err != nil {
			t.Fatalf("Verify at %v: %v", now, err)
		}
		if v.Service != "127" || v.Token != "tok" {
			t.Errorf("Verified = %+v", v)
		}
	}
	lookupErr := errors.New("database is down")
	if _, err := Verify(r, body, func(string) (string, error) { return "", lookupErr }, at); !errors.Is(err, lookupErr) || Code(err) != "" {
		t.Errorf("lookup failure: %v (code %q), want it passed through without a code", err, Code(err))
	}
}

// The official Node.js SDK signs "host:<hostname>" without the port while
// it sends "Host: <hostname>:<port>"; such a request verifies.
func TestVerifyAcceptsHostSignedWithoutPort(t *testing.T) {
	cred := Credential{SecretID: "AKIDnode", SecretKey: "nodekey"}
	body := []byte(`{"Limit":1}`)
	now := time.Unix(1700000000, 0)
	signed, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	signed.Header.Set("Content-Type", "application/json")
	if err := Sign(signed, body, cred, "127", now); err != nil {
		t.Fatal(err)
	}
	sent, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9100/", nil)
	sent.Header = signed.Header.Clone()
	lookup := func(string) (string, error) { return cred.SecretKey, nil }
	if _, err := Verify(sent, body, lookup, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	sent.Host = "127.0.0.2:9100"
	if _, err := Verify(sent, body, lookup, now); !errors.Is(err, ErrSignatureFailure) {
		t.Fatalf("another host verified: %v", err)
	}
}

func TestSigningKeysAreBoundedAndKeyedByScope(t *testing.T) {
	c := keyCache{m: map[keyScope][]byte{}}
	a := c.get("key", "2026-12-01", "scf")
	if b := c.get("key", "2026-12-01", "scf"); !bytes.Equal(a, b) {
		t.Error("the same scope derived another key")
	}
	for _, other := range [][3]string{{"key2", "2026-12-01", "scf"}, {"key", "2026-12-02", "scf"}, {"key", "2026-12-01", "cvm"}} {
		if b := c.get(other[0], other[1], other[2]); bytes.Equal(a, b) {
			t.Errorf("scope %v derived the key of another scope", other)
		}
	}
	for i := range 3 * maxSigningKeys {
		c.get("key", "2026-12-01", strconv.Itoa(i))
		if len(c.m) > maxSigningKeys {
			t.Fatalf("%d keys kept, want at most %d", len(c.m), maxSigningKeys)
		}
	}
}
