package interop

// A workload of one Tessera trust domain checks credentials of a FEDERATED trust domain with go-spiffe, using only
// what its own agent's Workload API serves (test/integration/federation.test.ts runs two servers and agents, sets the
// variables below and runs `go test -run '^TestFederatedWorkload$'`). Every check fails loudly; nothing skips.
//
//   TESSERA_FED_SOCKET     the Workload API socket of the caller's own agent (trust domain TESSERA_FED_OWN_TD)
//   TESSERA_FED_OWN_TD     the caller's trust domain
//   TESSERA_FED_PEER_TD    the federated trust domain
//   TESSERA_FED_PEER_SVID  PEM file: an X509-SVID chain (leaf first) issued in the peer trust domain
//   TESSERA_FED_PEER_ID    the SPIFFE ID that chain must verify as
//   TESSERA_FED_PEER_JWT   file holding a JWT-SVID issued in the peer trust domain
//   TESSERA_FED_AUDIENCE   its audience

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func readPEMChain(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("parse certificate in %s: %v", file, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		t.Fatalf("%s holds no certificate", file)
	}
	return certs
}

func TestFederatedWorkload(t *testing.T) {
	socket := mustEnv(t, "TESSERA_FED_SOCKET")
	ownTD := spiffeid.RequireTrustDomainFromString(mustEnv(t, "TESSERA_FED_OWN_TD"))
	peerTD := spiffeid.RequireTrustDomainFromString(mustEnv(t, "TESSERA_FED_PEER_TD"))
	peerChain := readPEMChain(t, mustEnv(t, "TESSERA_FED_PEER_SVID"))
	peerID := spiffeid.RequireFromString(mustEnv(t, "TESSERA_FED_PEER_ID"))
	tokenBytes, err := os.ReadFile(mustEnv(t, "TESSERA_FED_PEER_JWT"))
	if err != nil {
		t.Fatalf("read the peer JWT-SVID: %v", err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	audience := mustEnv(t, "TESSERA_FED_AUDIENCE")

	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr("unix://"+socket))
	if err != nil {
		t.Fatalf("workloadapi.New: %v", err)
	}
	defer client.Close()

	// FetchX509SVID's federated_bundles: the X509Context's bundle set holds the peer's bundle next to our own.
	x509Ctx, err := client.FetchX509Context(ctx)
	if err != nil {
		t.Fatalf("FetchX509Context: %v", err)
	}
	if len(x509Ctx.SVIDs) == 0 || x509Ctx.SVIDs[0].ID.TrustDomain() != ownTD {
		t.Fatalf("the caller should hold an SVID of %s", ownTD)
	}
	if _, ok := x509Ctx.Bundles.Get(ownTD); !ok {
		t.Fatalf("no bundle for the own trust domain %s", ownTD)
	}
	peerBundle, ok := x509Ctx.Bundles.Get(peerTD)
	if !ok || len(peerBundle.X509Authorities()) == 0 {
		t.Fatalf("FetchX509SVID carries no federated bundle for %s", peerTD)
	}
	id, _, err := x509svid.Verify(peerChain, x509Ctx.Bundles)
	if err != nil {
		t.Fatalf("the %s X509-SVID does not verify with the federated bundle: %v", peerTD, err)
	}
	if id != peerID {
		t.Fatalf("verified as %s, want %s", id, peerID)
	}
	// Our own bundle alone must not accept it: trust domains are never merged.
	ownOnly, _ := x509Ctx.Bundles.Get(ownTD)
	if _, _, err := x509svid.Verify(peerChain, ownOnly); err == nil {
		t.Fatalf("the %s X509-SVID verified against %s's own bundle", peerTD, ownTD)
	}

	// FetchX509Bundles.
	x509Bundles, err := client.FetchX509Bundles(ctx)
	if err != nil {
		t.Fatalf("FetchX509Bundles: %v", err)
	}
	if _, _, err := x509svid.Verify(peerChain, x509Bundles); err != nil {
		t.Fatalf("the %s X509-SVID does not verify with FetchX509Bundles' set: %v", peerTD, err)
	}

	// FetchJWTBundles + local validation.
	jwtBundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		t.Fatalf("FetchJWTBundles: %v", err)
	}
	if _, ok := jwtBundles.Get(peerTD); !ok {
		t.Fatalf("FetchJWTBundles carries no bundle for %s", peerTD)
	}
	svid, err := jwtsvid.ParseAndValidate(token, jwtBundles, []string{audience})
	if err != nil {
		t.Fatalf("the %s JWT-SVID does not validate with the federated JWT bundle: %v", peerTD, err)
	}
	if svid.ID.TrustDomain() != peerTD {
		t.Fatalf("JWT-SVID subject %s is not in %s", svid.ID, peerTD)
	}

	// ValidateJWTSVID on the own agent accepts the federated token.
	validated, err := client.ValidateJWTSVID(ctx, token, audience)
	if err != nil {
		t.Fatalf("ValidateJWTSVID refused the %s token: %v", peerTD, err)
	}
	if validated.ID != svid.ID {
		t.Fatalf("ValidateJWTSVID gave %s, local validation %s", validated.ID, svid.ID)
	}
	t.Logf("validated %s X509-SVID %s and JWT-SVID %s through %s's Workload API", peerTD, id, svid.ID, ownTD)
}
