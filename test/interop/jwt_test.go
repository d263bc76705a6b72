package interop

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
)

// checkJWTSVID validates one JWT-SVID with jwtsvid.ParseAndValidate against the bundle of the fixture's trust domain,
// read as a plain JWKS (jwtbundle.Parse, the Workload API form) or a SPIFFE bundle (spiffebundle.Parse). The bundle
// itself must always parse; only the token carries the verdict.
func checkJWTSVID(t *testing.T, dir string, f *Fixture) {
	td, err := spiffeid.TrustDomainFromString(f.TrustDomain)
	if err != nil {
		t.Fatalf("bad trustDomain in manifest: %v", err)
	}
	if len(f.Audience) == 0 {
		t.Fatal("a JWT-SVID fixture must give the validator's audience")
	}
	raw := mustRead(t, dir, f, "bundle")
	var source jwtbundle.Source
	switch f.BundleFormat {
	case "jwks":
		b, err := jwtbundle.Parse(td, raw)
		if err != nil {
			t.Fatalf("jwtbundle.Parse: %v", err)
		}
		source = b
	case "spiffe":
		b, err := spiffebundle.Parse(td, raw)
		if err != nil {
			t.Fatalf("spiffebundle.Parse: %v", err)
		}
		source = b
	default:
		t.Fatalf("unknown bundleFormat %q", f.BundleFormat)
	}
	token := string(mustRead(t, dir, f, "token"))

	svid, err := jwtsvid.ParseAndValidate(token, source, f.Audience)
	switch f.Expect {
	case expectValid:
		if err != nil {
			t.Fatalf("go-spiffe rejected a valid JWT-SVID: %v", err)
		}
		if got := svid.ID.String(); got != f.SpiffeID {
			t.Errorf("subject = %q, manifest says %q", got, f.SpiffeID)
		}
		if !intersects(svid.Audience, f.Audience) {
			t.Errorf("token audience %v does not contain any of %v", svid.Audience, f.Audience)
		}
		if svid.Expiry.IsZero() {
			t.Error("token has no expiry")
		}
	case expectInvalid:
		if err == nil {
			t.Fatalf("go-spiffe accepted a JWT-SVID that must be rejected (%s)", f.Reason)
		}
		t.Logf("rejected as expected: %v", err)
		f.assertGoError(t, err)
	}
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
