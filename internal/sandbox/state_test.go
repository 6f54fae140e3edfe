package sandbox

import (
	"errors"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
)

func TestTransitions(t *testing.T) {
	tests := []struct {
		from, to State
		want     bool
	}{
		{Creating, Starting, true},
		{Creating, Ready, false},
		{Starting, Ready, true},
		{Starting, Gone, true},
		{Ready, Busy, true},
		{Busy, Idle, true},
		{Idle, Busy, true},
		{Idle, Ready, false},
		{Busy, Creating, false},
		{Idle, Stopping, true},
		{Stopping, Gone, true},
		{Stopping, Ready, false},
		{Gone, Creating, false},
	}
	for _, tt := range tests {
		t.Run(tt.from.String()+"-"+tt.to.String(), func(t *testing.T) {
			if got := CanTransition(tt.from, tt.to); got != tt.want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestEveryStateCanStop(t *testing.T) {
	for s := Creating; s < Stopping; s++ {
		if !CanTransition(s, Stopping) {
			t.Errorf("%s cannot go to stopping", s)
		}
	}
}

func TestStateBox(t *testing.T) {
	var b StateBox
	if got := b.Get(); got != Creating {
		t.Fatalf("zero StateBox is %s, want creating", got)
	}
	if err := b.Set(Ready); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("creating→ready: err = %v, want failed precondition", err)
	}
	for _, s := range []State{Starting, Ready, Busy, Idle} {
		if err := b.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if !b.Stop() {
		t.Fatal("first Stop = false")
	}
	if b.Stop() {
		t.Fatal("second Stop = true")
	}
	if err := b.Set(Gone); err != nil {
		t.Fatal(err)
	}
	if b.Stop() {
		t.Fatal("Stop after gone = true")
	}
}

func TestSetByCallerAllowsOnlyTheCallersMoves(t *testing.T) {
	var b StateBox
	for _, s := range []State{Starting, Ready} {
		if err := b.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []State{Busy, Idle, Busy} {
		if err := b.SetByCaller(s); err != nil {
			t.Errorf("SetByCaller(%s): %v", s, err)
		}
	}
	for _, s := range []State{Stopping, Gone, Starting} {
		if err := b.SetByCaller(s); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("SetByCaller(%s) = %v, want ErrFailedPrecondition", s, err)
		}
	}
	if b.Get() != Busy {
		t.Errorf("state %s after refused moves, want busy", b.Get())
	}
}

func TestReasonOnce(t *testing.T) {
	exited := make(chan struct{})
	var r ExitReason
	if got := ReasonOnce(exited, &r); got.Kind != ExitNone {
		t.Errorf("before the exit: %+v", got)
	}
	r = ExitReason{Kind: ExitCode, Code: 3}
	close(exited)
	if got := ReasonOnce(exited, &r); got.Kind != ExitCode || got.Code != 3 {
		t.Errorf("after the exit: %+v", got)
	}
}
