package scf

import (
	"strings"

	"github.com/google/shlex"

	"github.com/scfd/scfd/internal/errdefs"
)

// SplitCommand splits ImageConfig.Command or Args (field names which)
// into the words of a process's arguments, with shell-like quoting
// (github.com/google/shlex: whitespace separates words, single and double
// quotes group them, a backslash escapes; no variable expansion): `sh -c
// "echo a b"` is three words. "" is no words. A string of unbalanced
// quotes, a trailing backslash, only whitespace, or a NUL character
// (which no process argument can hold) is ErrInvalidArgument about the
// field.
func SplitCommand(field, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errdefs.Invalid(field, "%s contains a NUL character, which no process argument can hold", field)
	}
	words, err := shlex.Split(s)
	if err != nil {
		return nil, errdefs.Invalid(field, "%s %q cannot be split into words: %v", field, s, err)
	}
	if len(words) == 0 {
		return nil, errdefs.Invalid(field, "%s %q holds no words: leave it empty to use the image's", field, s)
	}
	return words, nil
}
