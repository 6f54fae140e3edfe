// Package credentials owns scfd's API key pairs: the administrator's pair,
// generated on first start and kept in the data directory, and the lookup
// the API uses to verify a request's signature.
package credentials

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileName is where the administrator's key pair is kept in the data dir.
const FileName = "admin-key.json"

// Key is one API key pair.
type Key struct {
	SecretID  string `json:"SecretId"`
	SecretKey string `json:"SecretKey"`
}

// Path returns where the administrator's key is kept under dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// LoadAdmin reads the administrator's key kept under dataDir.
func LoadAdmin(dataDir string) (Key, error) {
	b, err := os.ReadFile(Path(dataDir))
	if err != nil {
		return Key{}, fmt.Errorf("read administrator key: %w", err)
	}
	var k Key
	if err := json.Unmarshal(b, &k); err != nil || k.SecretID == "" || k.SecretKey == "" {
		return Key{}, fmt.Errorf("administrator key file %s is damaged", Path(dataDir))
	}
	return k, nil
}

// EnsureAdmin returns the administrator's key: the given one when set,
// else the one kept under dataDir, else a new one that it writes there with
// mode 0600. created says whether a new key was made.
func EnsureAdmin(dataDir string, given Key) (k Key, created bool, err error) {
	if given.SecretID != "" {
		return given, false, nil
	}
	k, err = LoadAdmin(dataDir)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Key{}, false, err
	}
	k = Generate()
	b, _ := json.MarshalIndent(k, "", "  ")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Key{}, false, fmt.Errorf("create data dir: %w", err)
	}
	tmp := Path(dataDir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return Key{}, false, fmt.Errorf("write administrator key: %w", err)
	}
	if err := os.Rename(tmp, Path(dataDir)); err != nil {
		return Key{}, false, fmt.Errorf("write administrator key: %w", err)
	}
	return k, true, nil
}

// Generate returns a new random key pair: a SecretId of "AKID" and 32
// letters and digits, a SecretKey of 32 (190 bits).
func Generate() Key {
	return Key{SecretID: "AKID" + random(32), SecretKey: random(32)}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
