// Package interop checks Tessera's SPIFFE artefacts with go-spiffe, the reference Go implementation.
//
// The fixtures are written by test/interop/fixtures.ts into a directory named by the TESSERA_FIXTURES
// environment variable, described by manifest.json in that directory. Each fixture runs as the subtest
// TestFixtures/<name>; test/interop/interop.test.ts generates the fixtures, runs `go test -v` and checks
// that every fixture name reported PASS.
package interop
