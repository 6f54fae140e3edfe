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
