package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Manifest mirrors the Manifest type of fixtures.ts (manifest.json).
type Manifest struct {
	Version     int       `json:"version"`
	GeneratedAt time.Time `json:"generatedAt"`
	// VerifyAt is the instant at which X.509 chains are verified (x509svid.WithTime).
	VerifyAt time.Time `json:"verifyAt"`
	Fixtures []Fixture `json:"fixtures"`
}

// Fixture is one artefact (or set of related files) with the verdict go-spiffe is expected to reach.
type Fixture struct {
	Name        string            `json:"name"`
	Kind        string            `json:"kind"`
	Description string            `json:"description"`
	Files       map[string]string `json:"files"`
	TrustDomain string            `json:"trustDomain"`
	SpiffeID    string            `json:"spiffeId,omitempty"`
	Audience    []string          `json:"audience,omitempty"`
	// BundleFormat says how the JWT-SVID fixture's bundle file is encoded: "jwks" or "spiffe".
	BundleFormat string `json:"bundleFormat,omitempty"`
	Expect       string `json:"expect"`
	Reason       string `json:"reason,omitempty"`
	// RejectedBy lists the go-spiffe stages ("parse", "verify") that must reject an invalid X509-SVID.
	RejectedBy []string `json:"rejectedBy,omitempty"`
	// GoError is a fragment of go-spiffe's error text for an invalid fixture: proof that it was rejected for the
	// intended reason and not some other accident of the fixture.
	GoError string          `json:"goError,omitempty"`
	Bundle  *BundleExpected `json:"bundle,omitempty"`
}

// BundleExpected is what a valid bundle fixture must contain once parsed.
type BundleExpected struct {
	X509Authorities    int      `json:"x509Authorities"`
	JWTKeyIDs          []string `json:"jwtKeyIds"`
	SequenceNumber     *uint64  `json:"sequenceNumber,omitempty"`
	RefreshHintSeconds *int64   `json:"refreshHintSeconds,omitempty"`
}

const (
	expectValid   = "valid"
	expectInvalid = "invalid"
)

// loadManifest reads $TESSERA_FIXTURES/manifest.json. A missing variable, a missing file or an empty fixture list is
// an error: this harness must never pass without having checked anything.
func loadManifest() (string, *Manifest, error) {
	dir := os.Getenv("TESSERA_FIXTURES")
	if dir == "" {
		return "", nil, errors.New("TESSERA_FIXTURES is not set; generate fixtures with test/interop/fixtures.ts (vitest test/interop)")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the fixture manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("manifest.json is not valid: %w", err)
	}
	if m.Version != 1 {
		return "", nil, fmt.Errorf("manifest version %d is not supported (want 1)", m.Version)
	}
	if len(m.Fixtures) == 0 {
		return "", nil, errors.New("manifest.json lists no fixtures")
	}
	if m.VerifyAt.IsZero() {
		return "", nil, errors.New("manifest.json has no verifyAt time")
	}
	return dir, &m, nil
}

// file reads the fixture file stored under key in Files.
func (f *Fixture) file(dir, key string) ([]byte, error) {
	rel, ok := f.Files[key]
	if !ok {
		return nil, fmt.Errorf("fixture %s has no %q file", f.Name, key)
	}
	return os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
}

func (f *Fixture) hasFile(key string) bool {
	_, ok := f.Files[key]
	return ok
}

func (f *Fixture) rejectedBy(stage string) bool {
	for _, s := range f.RejectedBy {
		if s == stage {
			return true
		}
	}
	return false
}

// assertGoError checks that one of the rejection errors carries the fixture's goError fragment (when it has one).
func (f *Fixture) assertGoError(t *testing.T, errs ...error) {
	t.Helper()
	if f.GoError == "" {
		return
	}
	var texts []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), f.GoError) {
			return
		}
		texts = append(texts, err.Error())
	}
	t.Errorf("rejected, but not for the intended reason: no error contains %q (errors: %q)", f.GoError, texts)
}
