package scf

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
)

func TestValidateFunctionName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ab", true},
		{"hello-world_1", true},
		{"a", false},
		{"1abc", false},
		{"abc-", false},
		{"abc_", false},
		{"a.b", false},
		{"a" + strings.Repeat("b", 59), true},
		{"a" + strings.Repeat("b", 60), false},
	} {
		err := ValidateFunctionName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateFunctionName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ValidateFunctionName(%q) class: %v", tc.name, err)
		}
	}
	if err := ValidateFunctionName(""); !errors.Is(err, errdefs.ErrMissingParameter) {
		t.Errorf("empty name: %v, want ErrMissingParameter", err)
	}
}

func TestValidateMemorySize(t *testing.T) {
	for mb, ok := range map[int64]bool{64: true, 128: true, 256: true, 3072: true, 100: false, 192: false, 3200: false, 0: false} {
		if err := ValidateMemorySize(mb); (err == nil) != ok {
			t.Errorf("ValidateMemorySize(%d) = %v, want ok=%v", mb, err, ok)
		}
	}
}

func TestValidateEnvironment(t *testing.T) {
	big := []Variable{{Key: "A", Value: strings.Repeat("x", MaxEnvBytes)}}
	for name, tc := range map[string]struct {
		vars []Variable
		ok   bool
	}{
		"empty":   {nil, true},
		"simple":  {[]Variable{{"A", "1"}, {"B_2", "x"}}, true},
		"bad key": {[]Variable{{"1A", "1"}}, false},
		"dup":     {[]Variable{{"A", "1"}, {"A", "2"}}, false},
		"too big": {big, false},
		"NUL":     {[]Variable{{"A", "x\x00y"}}, false},
		"NUL end": {[]Variable{{"A", "x\x00"}}, false},
	} {
		if err := ValidateEnvironment(tc.vars); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", name, err, tc.ok)
		}
	}
}

func TestApplyDefaultsThenValidate(t *testing.T) {
	f := &Function{Name: "hello", Image: ImageConfig{ImageUri: "127.0.0.1:5000/a/b:1"}}
	ApplyDefaults(f)
	if err := ValidateFunction(f); err != nil {
		t.Fatal(err)
	}
	if f.Namespace != DefaultNamespace || f.MemorySize != 128 || f.Timeout != 3 || f.Type != TypeEvent || f.Version != Latest {
		t.Errorf("defaults not applied: %+v", f)
	}
	f.Image.ImagePort = -1
	if err := ValidateFunction(f); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("ImagePort -1: %v, want ErrUnsupported", err)
	}
}

// Clone must copy every field that could be shared: a field added later
// with a slice, map or pointer fails here until Clone copies it.
func TestCloneSharesNothing(t *testing.T) {
	f := &Function{
		Environment:   []Variable{{Key: "A", Value: "1"}},
		Tags:          []Tag{{Key: "t", Value: "v"}},
		StatusReasons: []StatusReason{{ErrorCode: "x"}},
	}
	c := f.Clone()
	fv, cv := reflect.ValueOf(f).Elem(), reflect.ValueOf(c).Elem()
	for i := range fv.NumField() {
		switch fv.Field(i).Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if fv.Field(i).IsNil() {
				t.Errorf("field %s is not set in the test: set it", fv.Type().Field(i).Name)
				continue
			}
			if fv.Field(i).Pointer() == cv.Field(i).Pointer() {
				t.Errorf("Clone shares field %s", fv.Type().Field(i).Name)
			}
		}
	}
	if !reflect.DeepEqual(f, c) {
		t.Errorf("Clone = %+v, want %+v", c, f)
	}
}
