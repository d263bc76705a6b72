// Package interop checks Tessera's SPIFFE artefacts with go-spiffe, the reference Go implementation.
//
// The fixtures are written by test/interop/fixtures.ts into a directory named by the TESSERA_FIXTURES
// environment variable, described by manifest.json in that directory. Each fixture runs as the subtest
// TestFixtures/<name>; test/interop/interop.test.ts generates the fixtures, runs `go test -v` and checks
// that every fixture name reported PASS.
//
// The TestWorkload* tests (workloadapi_test.go) run go-spiffe's workloadapi client against a live Tessera
// Workload API named by TESSERA_WORKLOAD_SOCKET; test/agent/workloadapi/interop.test.ts starts one and runs
// them. Without the variable they skip; with it set and nothing answering they fail.
package interop
