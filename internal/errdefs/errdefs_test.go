package errdefs

import (
	"errors"
	"io"
	"testing"
)

func TestNewKeepsClassAndCause(t *testing.T) {
	err := New(ErrNotFound, "Function", "function %q not found: %w", "f", io.EOF)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound) = false")
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("errors.Is(err, io.EOF) = false")
	}
	if got, want := Resource(err), "Function"; got != want {
		t.Errorf("Resource = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("ctx"), err)
	if got, want := Resource(wrapped), "Function"; got != want {
		t.Errorf("Resource(wrapped) = %q, want %q", got, want)
	}
	if got, want := Message(io.EOF, "fallback"), "fallback"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}
