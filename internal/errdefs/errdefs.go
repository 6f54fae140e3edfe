// Package errdefs holds the few error classes every scfd package uses.
//
// Code anywhere in scfd wraps its errors with one of the sentinel classes
// below (directly with %w, or through New), and only the edges — the SCF API
// and the HTTP gateway — turn a class into an SCF error code (with
// scf.ErrorCode, which the deployer's StatusReasons use too) or an HTTP
// status. Resource names the SCF sub-code ("Function", "Namespace",
// "MemorySize", ...) so that the edge can build codes such as
// ResourceNotFound.Function without parsing messages.
package errdefs

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// The error classes. Test with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrMissingParameter   = errors.New("missing parameter")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrInUse              = errors.New("in use")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnsupported        = errors.New("unsupported")
	ErrUnavailable        = errors.New("unavailable")
	ErrUnauthorized       = errors.New("unauthorized")
)

// Error is an error of one class about one resource or field.
// Its message is safe to show to a client.
type Error struct {
	Class    error  // one of the Err* classes; never nil
	Resource string // the SCF sub-code, such as "Function" or "MemorySize"; may be empty
	Msg      string // human-readable, client-safe
	Cause    error  // optional underlying error, for logs and errors.Is
}

func (e *Error) Error() string {
	if e.Cause != nil && e.Msg == "" {
		return e.Cause.Error()
	}
	return e.Msg
}

// Unwrap exposes both the class and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Cause}
}

// New returns an error of class about resource with a formatted message.
// A %w verb in format records the wrapped error as the cause.
func New(class error, resource, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &Error{Class: class, Resource: resource, Msg: err.Error()}
	if u := errors.Unwrap(err); u != nil {
		e.Cause = u
	}
	return e
}

// NotFound is shorthand for New(ErrNotFound, ...).
func NotFound(resource, format string, args ...any) error {
	return New(ErrNotFound, resource, format, args...)
}

// Invalid is shorthand for New(ErrInvalidArgument, ...).
func Invalid(resource, format string, args ...any) error {
	return New(ErrInvalidArgument, resource, format, args...)
}

// Resource returns the resource named by the outermost *Error in err's
// chain, or "".
func Resource(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Resource
	}
	return ""
}

// Message returns the client-safe message of the outermost *Error in err's
// chain, or fallback when there is none.
func Message(err error, fallback string) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return fallback
}

// ErrNoSpace is the cause of errors NoSpace classifies.
var ErrNoSpace = errors.New("no space left in the data directory")

// NoSpace returns err classified as ErrResourceExhausted about
// "DiskSpace", with a message naming the cause, when err says the file
// system is full (ENOSPC, or SQLite's "database or disk is full"); else
// err unchanged. Stores call it on their write errors, so that a client
// learns why its request could not be kept.
func NoSpace(err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrNoSpace) && !strings.Contains(err.Error(), "database or disk is full") {
		return err
	}
	return &Error{
		Class:    ErrResourceExhausted,
		Resource: "DiskSpace",
		Msg:      "scfd's data directory is full (no space left on its file system): nothing new can be stored until space is freed",
		Cause:    errors.Join(ErrNoSpace, err),
	}
}
