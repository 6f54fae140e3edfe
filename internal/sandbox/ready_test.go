package sandbox

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

func TestWaitReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	never := make(chan struct{})
	if err := WaitReady(context.Background(), addr, time.Millisecond, time.Second, never, nil); err != nil {
		t.Errorf("a listening server: %v", err)
	}
	ln.Close()

	err = WaitReady(context.Background(), addr, time.Millisecond, 50*time.Millisecond, never, nil)
	_, port, _ := net.SplitHostPort(addr)
	want := scf.StartupTimeoutMessage[:len(scf.StartupTimeoutMessage)-len("9000.")] + port + "."
	if !errors.Is(err, errdefs.ErrUnavailable) || err.Error() != want {
		t.Errorf("nobody listening: %v, want SCF's exact message naming port %s", err, port)
	}

	exited := make(chan struct{})
	close(exited)
	gone := errors.New("exited with code 3")
	if err := WaitReady(context.Background(), addr, time.Millisecond, time.Minute, exited, func() error { return gone }); err != gone {
		t.Errorf("an ended process: %v", err)
	}
}
