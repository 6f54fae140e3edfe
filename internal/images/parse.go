package images

import (
	"bytes"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// parseManifest decodes an image manifest a registry sent.
func parseManifest(b []byte) (*v1.Manifest, error) {
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if m.SchemaVersion != 2 {
		return nil, errors.New("schemaVersion is not 2")
	}
	return m, nil
}

// parseIndex decodes an image index (manifest list) a registry sent.
func parseIndex(b []byte) (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(b))
}

// parseConfig decodes an image config blob.
func parseConfig(b []byte) (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(b))
}
