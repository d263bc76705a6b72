package interop

import (
	"context"
	"crypto/x509"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (these tests are run by test/integration/{bundle-endpoint,federation}.test.ts)", name)
	}
	return v
}

// TestFederationFetchBundle fetches a Tessera bundle endpoint with federation.FetchBundle.
//
//	TESSERA_BUNDLE_URL       the endpoint URL
//	TESSERA_BUNDLE_TD        the trust domain of the bundle
//	TESSERA_BUNDLE_PROFILE   https_spiffe | https_web
//	TESSERA_BUNDLE_PEM       PEM file: the endpoint trust domain's X.509 authorities (https_spiffe) or web roots (https_web)
//	TESSERA_ENDPOINT_ID      https_spiffe only: the SPIFFE ID the endpoint must present
//	TESSERA_EXPECTED_BUNDLE  SPIFFE bundle JSON the fetched bundle must match (x509 authorities, JWT key IDs)
//	TESSERA_FEDERATION_EXPECT  ok | refused (refused: the fetch must fail, e.g. a wrong endpoint SPIFFE ID)
func TestFederationFetchBundle(t *testing.T) {
	url := mustEnv(t, "TESSERA_BUNDLE_URL")
	td, err := spiffeid.TrustDomainFromString(mustEnv(t, "TESSERA_BUNDLE_TD"))
	if err != nil {
		t.Fatalf("TESSERA_BUNDLE_TD: %v", err)
	}
	profile := mustEnv(t, "TESSERA_BUNDLE_PROFILE")
	pemBytes, err := os.ReadFile(mustEnv(t, "TESSERA_BUNDLE_PEM"))
	if err != nil {
		t.Fatal(err)
	}
	expect := mustEnv(t, "TESSERA_FEDERATION_EXPECT")

	var opt federation.FetchOption
	switch profile {
	case "https_spiffe":
		endpointID, err := spiffeid.FromString(mustEnv(t, "TESSERA_ENDPOINT_ID"))
		if err != nil {
			t.Fatalf("TESSERA_ENDPOINT_ID: %v", err)
		}
		roots, err := x509bundle.Parse(endpointID.TrustDomain(), pemBytes)
		if err != nil {
			t.Fatalf("trust bundle: %v", err)
		}
		opt = federation.WithSPIFFEAuth(roots, endpointID)
	case "https_web":
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			t.Fatal("no certificates in TESSERA_BUNDLE_PEM")
		}
		opt = federation.WithWebPKIRoots(pool)
	default:
		t.Fatalf("TESSERA_BUNDLE_PROFILE %q is neither https_spiffe nor https_web", profile)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := federation.FetchBundle(ctx, td, url, opt)
	switch expect {
	case "refused":
		if err == nil {
			t.Fatal("FetchBundle succeeded, want a refusal")
		}
		t.Logf("refused as expected: %v", err)
		return
	case "ok":
		if err != nil {
			t.Fatalf("FetchBundle: %v", err)
		}
	default:
		t.Fatalf("TESSERA_FEDERATION_EXPECT %q is neither ok nor refused", expect)
	}

	wantJSON, err := os.ReadFile(mustEnv(t, "TESSERA_EXPECTED_BUNDLE"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := spiffebundle.Parse(td, wantJSON)
	if err != nil {
		t.Fatalf("expected bundle: %v", err)
	}
	if !got.X509Bundle().Equal(want.X509Bundle()) {
		t.Errorf("fetched X.509 authorities (%d) differ from the expected ones (%d)", len(got.X509Authorities()), len(want.X509Authorities()))
	}
	if len(got.X509Authorities()) == 0 {
		t.Error("the fetched bundle holds no X.509 authority")
	}
	kids := func(b *spiffebundle.Bundle) []string {
		var ks []string
		for k := range b.JWTAuthorities() {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	gk, wk := kids(got), kids(want)
	if len(gk) == 0 || len(gk) != len(wk) {
		t.Fatalf("fetched JWT key IDs %v, want %v", gk, wk)
	}
	for i := range gk {
		if gk[i] != wk[i] {
			t.Fatalf("fetched JWT key IDs %v, want %v", gk, wk)
		}
	}
	t.Logf("fetched %d X.509 authorities and JWT keys %v", len(got.X509Authorities()), gk)
}
