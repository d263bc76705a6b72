package interop

import (
	"testing"
)

// TestFixtures runs every fixture of the manifest through go-spiffe as its own subtest, named after the fixture.
func TestFixtures(t *testing.T) {
	dir, m, err := loadManifest()
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, len(m.Fixtures))
	for i := range m.Fixtures {
		f := m.Fixtures[i]
		if f.Name == "" || seen[f.Name] {
			t.Fatalf("fixture %d has an empty or duplicate name %q", i, f.Name)
		}
		seen[f.Name] = true
		t.Run(f.Name, func(t *testing.T) {
			if f.Expect != expectValid && f.Expect != expectInvalid {
				t.Fatalf("expect must be %q or %q, not %q", expectValid, expectInvalid, f.Expect)
			}
			if f.Expect == expectInvalid && f.Reason == "" {
				t.Fatal("an invalid fixture must say why (reason)")
			}
			switch f.Kind {
			case "x509-svid":
				checkX509SVID(t, dir, m, &f)
			case "jwt-svid":
				checkJWTSVID(t, dir, &f)
			case "x509-bundle":
				checkX509Bundle(t, dir, &f)
			case "jwt-bundle":
				checkJWTBundle(t, dir, &f)
			case "spiffe-bundle":
				checkSPIFFEBundle(t, dir, &f)
			default:
				t.Fatalf("unknown fixture kind %q", f.Kind)
			}
		})
	}
}
