package sandbox

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

func TestArgv(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/bin/server"}, Cmd: []string{"-port", "9000"}}
	tests := []struct {
		name          string
		command, args string
		want          []string
	}{
		{"image", "", "", []string{"/bin/server", "-port", "9000"}},
		{"command keeps cmd", "/bin/other -x", "", []string{"/bin/other", "-x", "-port", "9000"}},
		{"args only", "", `-msg "hello world"`, []string{"/bin/server", "-msg", "hello world"}},
		{"both", `sh -c`, `'echo a; echo b'`, []string{"sh", "-c", "echo a; echo b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Argv(Spec{Image: img, Command: tt.command, Args: tt.args})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Argv (-want +got):\n%s", d)
			}
		})
	}
}

func TestArgvErrors(t *testing.T) {
	if _, err := Argv(Spec{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("empty: err = %v, want invalid argument", err)
	}
	for _, spec := range []Spec{{Command: `sh "unterminated`}, {Command: "/bin/x", Args: `trailing \`}, {Command: "a\x00b"}} {
		if _, err := Argv(spec); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: err = %v, want invalid argument", spec, err)
		}
	}
}

func TestEnvironOrderAndPrecedence(t *testing.T) {
	spec := Spec{
		Function: "hello",
		Image:    ImageConfig{Env: []string{"PATH=/bin", "USER=root", "A=image"}},
		Env:      []scf.Variable{{Key: "A", Value: "function"}, {Key: "TENCENTCLOUD_RUNENV", Value: "mine"}, {Key: "B", Value: "x=y"}},
	}
	got := Environ(spec, Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"})
	want := []string{
		"PATH=/bin", "USER=qcloud", "A=function", "TENCENTCLOUD_RUNENV=SCF", "B=x=y",
		"USER_CODE_ROOT=/var/user/", "SCF_FUNCTIONNAME=hello", "SCF_FUNCTIONVERSION=$LATEST",
		"TENCENTCLOUD_REGION=ap-guangzhou", "TENCENTCLOUD_APPID=1250000000", "TENCENTCLOUD_UIN=100000000001",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Environ (-want +got):\n%s", d)
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "ins-0123456789abcdef", "A_b-c"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "-a", "a/b", "a.b", "../x", string(make([]byte, 49))} {
		if err := ValidateID(id); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ValidateID(%q) = %v, want invalid argument", id, err)
		}
	}
}
