package interop

import (
	"crypto/x509"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// checkX509SVID runs two go-spiffe stages over one X509-SVID fixture:
//
//   - parse: x509svid.ParseRaw (DER chain + PKCS#8 DER key) and x509svid.Parse (PEM forms), as the Workload API
//     client does for every SVID it receives; both encodings must reach the same verdict.
//   - verify: x509svid.Verify of the chain against the trust domain's bundle read with x509bundle.ParseRaw (DER),
//     x509bundle.Parse (PEM) and, when present, spiffebundle.Parse (JSON), at the manifest's verifyAt time.
//
// A valid fixture must pass both stages and yield the manifest's SPIFFE ID; an invalid one must fail every stage
// listed in rejectedBy (go-spiffe does not run every check in every stage, see spiffe-notes §2).
func checkX509SVID(t *testing.T, dir string, m *Manifest, f *Fixture) {
	td, err := spiffeid.TrustDomainFromString(f.TrustDomain)
	if err != nil {
		t.Fatalf("bad trustDomain in manifest: %v", err)
	}
	chainDER := mustRead(t, dir, f, "chain")
	keyDER := mustRead(t, dir, f, "key")
	chainPEM := mustRead(t, dir, f, "chainPem")
	keyPEM := mustRead(t, dir, f, "keyPem")

	// Stage "parse".
	svidRaw, errRaw := x509svid.ParseRaw(chainDER, keyDER)
	svidPEM, errPEM := x509svid.Parse(chainPEM, keyPEM)
	if (errRaw == nil) != (errPEM == nil) {
		t.Fatalf("ParseRaw and Parse disagree: DER err=%v, PEM err=%v", errRaw, errPEM)
	}
	parseErr := errRaw

	// Stage "verify": the chain comes from the DER file so that it is available even when Parse refused it.
	certs, err := x509.ParseCertificates(chainDER)
	if err != nil {
		t.Fatalf("Go cannot parse the certificate chain at all: %v", err)
	}
	bundles := map[string]x509bundle.Source{}
	if b, err := x509bundle.ParseRaw(td, mustRead(t, dir, f, "bundle")); err != nil {
		t.Fatalf("x509bundle.ParseRaw: %v", err)
	} else {
		bundles["der"] = b
	}
	if b, err := x509bundle.Parse(td, mustRead(t, dir, f, "bundlePem")); err != nil {
		t.Fatalf("x509bundle.Parse: %v", err)
	} else {
		bundles["pem"] = b
	}
	if f.hasFile("spiffeBundle") {
		b, err := spiffebundle.Parse(td, mustRead(t, dir, f, "spiffeBundle"))
		if err != nil {
			t.Fatalf("spiffebundle.Parse: %v", err)
		}
		bundles["spiffe"] = b
	}
	verifyErrs := map[string]error{}
	verifyIDs := map[string]spiffeid.ID{}
	for name, source := range bundles {
		id, chains, err := x509svid.Verify(certs, source, x509svid.WithTime(m.VerifyAt))
		verifyErrs[name] = err
		verifyIDs[name] = id
		if err == nil && len(chains) == 0 {
			t.Errorf("Verify with the %s bundle returned no chain", name)
		}
	}
	var verifyErr error
	for name, err := range verifyErrs {
		if (err == nil) != (verifyErrs["der"] == nil) {
			t.Fatalf("Verify disagrees between bundle encodings: der err=%v, %s err=%v", verifyErrs["der"], name, err)
		}
		verifyErr = err
	}

	switch f.Expect {
	case expectValid:
		if parseErr != nil {
			t.Fatalf("go-spiffe rejected a valid SVID at parse: %v", parseErr)
		}
		if verifyErr != nil {
			t.Fatalf("go-spiffe rejected a valid SVID at verify: %v", verifyErr)
		}
		if got := svidRaw.ID.String(); got != f.SpiffeID {
			t.Errorf("ParseRaw ID = %q, manifest says %q", got, f.SpiffeID)
		}
		if got := svidPEM.ID.String(); got != f.SpiffeID {
			t.Errorf("Parse ID = %q, manifest says %q", got, f.SpiffeID)
		}
		for name, id := range verifyIDs {
			if id.String() != f.SpiffeID {
				t.Errorf("Verify (%s bundle) ID = %q, manifest says %q", name, id, f.SpiffeID)
			}
		}
		if n := len(svidRaw.Certificates); n != len(certs) {
			t.Errorf("ParseRaw kept %d certificates of %d", n, len(certs))
		}
		if svidRaw.PrivateKey == nil {
			t.Error("ParseRaw returned no private key")
		}
	case expectInvalid:
		if len(f.RejectedBy) == 0 {
			t.Fatal("an invalid X509-SVID fixture must list rejectedBy stages")
		}
		for _, stage := range f.RejectedBy {
			switch stage {
			case "parse":
				if parseErr == nil {
					t.Errorf("go-spiffe accepted at parse an SVID that must be rejected (%s)", f.Reason)
				} else {
					t.Logf("parse rejected as expected: %v", parseErr)
				}
			case "verify":
				if verifyErr == nil {
					t.Errorf("go-spiffe accepted at verify an SVID that must be rejected (%s)", f.Reason)
				} else {
					t.Logf("verify rejected as expected: %v", verifyErr)
				}
			default:
				t.Fatalf("unknown rejectedBy stage %q", stage)
			}
		}
		var rejections []error
		if f.rejectedBy("parse") {
			rejections = append(rejections, parseErr)
		}
		if f.rejectedBy("verify") {
			rejections = append(rejections, verifyErr)
		}
		f.assertGoError(t, rejections...)
		if !f.rejectedBy("parse") && parseErr != nil {
			t.Logf("note: parse also rejected: %v", parseErr)
		}
		if !f.rejectedBy("verify") && verifyErr != nil {
			t.Logf("note: verify also rejected: %v", verifyErr)
		}
	}
}

func mustRead(t *testing.T, dir string, f *Fixture, key string) []byte {
	t.Helper()
	b, err := f.file(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
