package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/tc3"
)

// echoServer verifies each request's signature and answers with what it saw.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, err := tc3.Verify(r, body, func(id string) (string, error) {
			if id != "AKIDtest" {
				return "", tc3.ErrSecretIDNotFound
			}
			return "key", nil
		}, time.Now())
		if err != nil {
			json.NewEncoder(w).Encode(map[string]any{"Response": map[string]any{
				"Error":     map[string]string{"Code": tc3.Code(err), "Message": err.Error()},
				"RequestId": "req-1",
			}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Response": map[string]any{
			"Action":    r.Header.Get("X-TC-Action"),
			"Version":   r.Header.Get("X-TC-Version"),
			"Region":    r.Header.Get("X-TC-Region"),
			"Service":   v.Service,
			"Body":      string(body),
			"RequestId": "req-2",
		}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echo struct {
	Action, Version, Region, Service, Body, RequestId string
}

func TestCallSignsAndDecodes(t *testing.T) {
	srv := echoServer(t)
	c := New(srv.URL, tc3.Credential{SecretID: "AKIDtest", SecretKey: "key"}, WithRegion("ap-guangzhou"))
	var got echo
	if err := c.Call(context.Background(), "GetFunction", map[string]string{"FunctionName": "f"}, &got); err != nil {
		t.Fatal(err)
	}
	want := echo{
		Action:    "GetFunction",
		Version:   DefaultVersion,
		Region:    "ap-guangzhou",
		Service:   "127", // the first label of 127.0.0.1:port, as the official SDKs do
		Body:      `{"FunctionName":"f"}`,
		RequestId: "req-2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := c.Call(context.Background(), "GetAccount", nil, &got); err != nil || got.Body != "{}" {
		t.Errorf("nil request: body %q, %v", got.Body, err)
	}
}

func TestCallReturnsAPIError(t *testing.T) {
	srv := echoServer(t)
	c := New(srv.URL, tc3.Credential{SecretID: "AKIDother", SecretKey: "key"})
	err := c.Call(context.Background(), "GetFunction", nil, nil)
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.Code != "AuthFailure.SecretIdNotFound" || apiErr.RequestID != "req-1" {
		t.Errorf("APIError = %+v", apiErr)
	}
}

func TestCallRejectsNonAPIResponses(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	c := New(srv.URL, tc3.Credential{SecretID: "a", SecretKey: "b"})
	err := c.Call(context.Background(), "GetFunction", nil, nil)
	var apiErr *APIError
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("err = %v, want a non-API error", err)
	}
}
