package interop

import (
	"sort"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// checkX509Bundle reads an X.509 bundle both as concatenated DER (x509bundle.ParseRaw, the Workload API form) and as
// PEM (x509bundle.Parse); both must hold the expected number of authorities, in the same order.
func checkX509Bundle(t *testing.T, dir string, f *Fixture) {
	td := mustTrustDomain(t, f)
	der, errDER := x509bundle.ParseRaw(td, mustRead(t, dir, f, "der"))
	pem, errPEM := x509bundle.Parse(td, mustRead(t, dir, f, "pem"))
	if !expectParse(t, f, errDER) || !expectParse(t, f, errPEM) {
		return
	}
	want := expectedBundle(t, f)
	if n := len(der.X509Authorities()); n != want.X509Authorities {
		t.Errorf("DER bundle holds %d authorities, want %d", n, want.X509Authorities)
	}
	if !der.Equal(pem) {
		t.Error("the DER and PEM forms of the bundle differ")
	}
}

// checkJWTBundle reads a plain JWKS (the Workload API's JWT bundle form) with jwtbundle.Parse.
func checkJWTBundle(t *testing.T, dir string, f *Fixture) {
	b, err := jwtbundle.Parse(mustTrustDomain(t, f), mustRead(t, dir, f, "jwks"))
	if !expectParse(t, f, err) {
		return
	}
	want := expectedBundle(t, f)
	assertKeyIDs(t, keyIDs(b.JWTAuthorities()), want.JWTKeyIDs)
}

// checkSPIFFEBundle reads a SPIFFE bundle document (JWKS with use, spiffe_sequence, spiffe_refresh_hint).
func checkSPIFFEBundle(t *testing.T, dir string, f *Fixture) {
	b, err := spiffebundle.Parse(mustTrustDomain(t, f), mustRead(t, dir, f, "json"))
	if !expectParse(t, f, err) {
		return
	}
	want := expectedBundle(t, f)
	if n := len(b.X509Authorities()); n != want.X509Authorities {
		t.Errorf("bundle holds %d X.509 authorities, want %d", n, want.X509Authorities)
	}
	assertKeyIDs(t, keyIDs(b.JWTAuthorities()), want.JWTKeyIDs)
	seq, hasSeq := b.SequenceNumber()
	switch {
	case want.SequenceNumber == nil && hasSeq:
		t.Errorf("bundle has spiffe_sequence %d, manifest says none", seq)
	case want.SequenceNumber != nil && (!hasSeq || seq != *want.SequenceNumber):
		t.Errorf("spiffe_sequence = %d (present=%v), want %d", seq, hasSeq, *want.SequenceNumber)
	}
	hint, hasHint := b.RefreshHint()
	switch {
	case want.RefreshHintSeconds == nil && hasHint:
		t.Errorf("bundle has spiffe_refresh_hint %s, manifest says none", hint)
	case want.RefreshHintSeconds != nil && (!hasHint || hint != time.Duration(*want.RefreshHintSeconds)*time.Second):
		t.Errorf("spiffe_refresh_hint = %s (present=%v), want %ds", hint, hasHint, *want.RefreshHintSeconds)
	}
}

// expectParse checks a bundle parse result against the verdict; it returns true when the caller should go on and
// compare the contents (valid fixture, parsed fine).
func expectParse(t *testing.T, f *Fixture, err error) bool {
	t.Helper()
	switch f.Expect {
	case expectValid:
		if err != nil {
			t.Fatalf("go-spiffe rejected a valid bundle: %v", err)
		}
		return true
	default:
		if err == nil {
			t.Fatalf("go-spiffe accepted a bundle that must be rejected (%s)", f.Reason)
		}
		t.Logf("rejected as expected: %v", err)
		f.assertGoError(t, err)
		return false
	}
}

func expectedBundle(t *testing.T, f *Fixture) *BundleExpected {
	t.Helper()
	if f.Bundle == nil {
		t.Fatal("a valid bundle fixture must describe its contents (bundle)")
	}
	return f.Bundle
}

func mustTrustDomain(t *testing.T, f *Fixture) spiffeid.TrustDomain {
	t.Helper()
	td, err := spiffeid.TrustDomainFromString(f.TrustDomain)
	if err != nil {
		t.Fatalf("bad trustDomain in manifest: %v", err)
	}
	return td
}

func keyIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func assertKeyIDs(t *testing.T, got, want []string) {
	t.Helper()
	w := append([]string(nil), want...)
	sort.Strings(w)
	if len(got) != len(w) {
		t.Errorf("JWT key IDs = %q, want %q", got, w)
		return
	}
	for i := range got {
		if got[i] != w[i] {
			t.Errorf("JWT key IDs = %q, want %q", got, w)
			return
		}
	}
}
