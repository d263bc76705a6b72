package interop

// go-spiffe's workloadapi client against Tessera's Workload API. These tests run only when
// TESSERA_WORKLOAD_SOCKET names the socket of a running Workload API (test/agent/workloadapi/interop.test.ts starts
// one with a fake identity provider, sets the variables below and runs `go test -run '^TestWorkload'`). When the
// variable is set but nothing answers on the socket, every test FAILS (never skips).
//
//   TESSERA_WORKLOAD_SOCKET  absolute path of the Unix socket
//   TESSERA_WORKLOAD_MODE    "identity" (default): the caller has TESSERA_WORKLOAD_IDS; "no-identity": it has none
//   TESSERA_WORKLOAD_IDS     comma-separated SPIFFE IDs the caller holds, default identity first
//   TESSERA_WORKLOAD_HINTS   comma-separated hints of those identities (same order)
//   TESSERA_WORKLOAD_FEDERATED  trust domain the caller federates with
//   The serving side rotates the caller's SVIDs every few hundred milliseconds (TestWorkloadWatchRotation).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const workloadTimeout = 20 * time.Second

type workloadEnv struct {
	socket    string
	addr      string
	ids       []string
	hints     []string
	federated string
}

// workloadTarget fails unless TESSERA_WORKLOAD_SOCKET names a Workload API that answers and TESSERA_WORKLOAD_MODE is
// the mode the test is written for. These tests never skip: the TypeScript side (test/agent/workloadapi/interop.test.ts,
// test/integration/agent.test.ts) selects the tests of each mode with -run.
func workloadTarget(t *testing.T, mode string) workloadEnv {
	t.Helper()
	socket := os.Getenv("TESSERA_WORKLOAD_SOCKET")
	if socket == "" {
		t.Fatal("TESSERA_WORKLOAD_SOCKET is not set (run these tests through vitest: test/agent/workloadapi/interop.test.ts)")
	}
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		t.Fatalf("TESSERA_WORKLOAD_SOCKET=%q is set but the Workload API does not answer there: %v", socket, err)
	}
	_ = conn.Close()
	got := os.Getenv("TESSERA_WORKLOAD_MODE")
	if got == "" {
		got = "identity"
	}
	if got != mode {
		t.Fatalf("written for TESSERA_WORKLOAD_MODE=%s, running with %s (select tests with -run)", mode, got)
	}
	env := workloadEnv{socket: socket, addr: "unix://" + socket, federated: os.Getenv("TESSERA_WORKLOAD_FEDERATED")}
	if ids := os.Getenv("TESSERA_WORKLOAD_IDS"); ids != "" {
		env.ids = strings.Split(ids, ",")
	}
	if hints := os.Getenv("TESSERA_WORKLOAD_HINTS"); hints != "" {
		env.hints = strings.Split(hints, ",")
	}
	if mode == "identity" && len(env.ids) == 0 {
		t.Fatal("TESSERA_WORKLOAD_IDS must name the caller's identities")
	}
	return env
}

func newWorkloadClient(t *testing.T, env workloadEnv) (*workloadapi.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	t.Cleanup(cancel)
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(env.addr))
	if err != nil {
		t.Fatalf("workloadapi.New: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, ctx
}

func TestWorkloadX509Context(t *testing.T) {
	env := workloadTarget(t, "identity")
	client, ctx := newWorkloadClient(t, env)

	x509Ctx, err := client.FetchX509Context(ctx)
	if err != nil {
		t.Fatalf("FetchX509Context: %v", err)
	}
	if len(x509Ctx.SVIDs) != len(env.ids) {
		t.Fatalf("got %d SVIDs, want %d", len(x509Ctx.SVIDs), len(env.ids))
	}
	for i, svid := range x509Ctx.SVIDs {
		if svid.ID.String() != env.ids[i] {
			t.Errorf("SVID %d is %s, want %s", i, svid.ID, env.ids[i])
		}
		if i < len(env.hints) && svid.Hint != env.hints[i] {
			t.Errorf("SVID %d hint %q, want %q", i, svid.Hint, env.hints[i])
		}
		id, chains, err := x509svid.Verify(svid.Certificates, x509Ctx.Bundles)
		if err != nil {
			t.Fatalf("x509svid.Verify(%s): %v", svid.ID, err)
		}
		if id != svid.ID || len(chains) == 0 {
			t.Errorf("Verify gave %s with %d chains", id, len(chains))
		}
		if svid.PrivateKey == nil {
			t.Errorf("SVID %d has no private key", i)
		}
	}
	own := x509Ctx.SVIDs[0].ID.TrustDomain()
	if _, ok := x509Ctx.Bundles.Get(own); !ok {
		t.Errorf("no bundle for the own trust domain %s", own)
	}
	if env.federated != "" {
		td := spiffeid.RequireTrustDomainFromString(env.federated)
		if b, ok := x509Ctx.Bundles.Get(td); !ok || len(b.X509Authorities()) == 0 {
			t.Errorf("no federated bundle for %s", td)
		}
	}

	svid, err := client.FetchX509SVID(ctx)
	if err != nil {
		t.Fatalf("FetchX509SVID: %v", err)
	}
	if svid.ID.String() != env.ids[0] {
		t.Errorf("default SVID %s, want %s", svid.ID, env.ids[0])
	}

	bundles, err := client.FetchX509Bundles(ctx)
	if err != nil {
		t.Fatalf("FetchX509Bundles: %v", err)
	}
	if _, ok := bundles.Get(own); !ok {
		t.Errorf("FetchX509Bundles has no bundle for %s", own)
	}
	if env.federated != "" {
		if _, ok := bundles.Get(spiffeid.RequireTrustDomainFromString(env.federated)); !ok {
			t.Errorf("FetchX509Bundles has no bundle for %s", env.federated)
		}
	}
	if _, _, err := x509svid.Verify(svid.Certificates, bundles); err != nil {
		t.Errorf("the SVID does not verify against FetchX509Bundles' bundles: %v", err)
	}
}

func TestWorkloadX509Source(t *testing.T) {
	env := workloadTarget(t, "identity")
	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	defer cancel()
	source, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(env.addr)))
	if err != nil {
		t.Fatalf("NewX509Source: %v", err)
	}
	defer source.Close()
	svid, err := source.GetX509SVID()
	if err != nil {
		t.Fatalf("GetX509SVID: %v", err)
	}
	if svid.ID.String() != env.ids[0] {
		t.Errorf("source SVID %s, want %s", svid.ID, env.ids[0])
	}
	if _, _, err := x509svid.Verify(svid.Certificates, source); err != nil {
		t.Errorf("x509svid.Verify against the source: %v", err)
	}
}

func TestWorkloadJWT(t *testing.T) {
	env := workloadTarget(t, "identity")
	client, ctx := newWorkloadClient(t, env)

	svid, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "aud-1", ExtraAudiences: []string{"aud-2"}})
	if err != nil {
		t.Fatalf("FetchJWTSVID: %v", err)
	}
	if svid.ID.String() != env.ids[0] {
		t.Errorf("JWT-SVID %s, want %s", svid.ID, env.ids[0])
	}
	bundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		t.Fatalf("FetchJWTBundles: %v", err)
	}
	parsed, err := jwtsvid.ParseAndValidate(svid.Marshal(), bundles, []string{"aud-2"})
	if err != nil {
		t.Fatalf("jwtsvid.ParseAndValidate against the JWT bundles: %v", err)
	}
	if parsed.ID != svid.ID {
		t.Errorf("validated %s, want %s", parsed.ID, svid.ID)
	}
	if env.federated != "" {
		if _, ok := bundles.Get(spiffeid.RequireTrustDomainFromString(env.federated)); !ok {
			t.Errorf("FetchJWTBundles has no bundle for %s", env.federated)
		}
	}

	all, err := client.FetchJWTSVIDs(ctx, jwtsvid.Params{Audience: "aud-1"})
	if err != nil {
		t.Fatalf("FetchJWTSVIDs: %v", err)
	}
	if len(all) != len(env.ids) {
		t.Errorf("FetchJWTSVIDs gave %d, want %d", len(all), len(env.ids))
	}
	if len(env.ids) > 1 {
		want := spiffeid.RequireFromString(env.ids[1])
		one, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "aud-1", Subject: want})
		if err != nil {
			t.Fatalf("FetchJWTSVID(Subject=%s): %v", want, err)
		}
		if one.ID != want {
			t.Errorf("FetchJWTSVID(Subject) gave %s, want %s", one.ID, want)
		}
	}

	validated, err := client.ValidateJWTSVID(ctx, svid.Marshal(), "aud-2")
	if err != nil {
		t.Fatalf("ValidateJWTSVID: %v", err)
	}
	if validated.ID != svid.ID {
		t.Errorf("ValidateJWTSVID gave %s, want %s", validated.ID, svid.ID)
	}
	if _, err := client.ValidateJWTSVID(ctx, svid.Marshal(), "someone-else"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ValidateJWTSVID with a foreign audience: got %v, want InvalidArgument", err)
	}

	source, err := workloadapi.NewJWTSource(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(env.addr)))
	if err != nil {
		t.Fatalf("NewJWTSource: %v", err)
	}
	defer source.Close()
	if _, err := jwtsvid.ParseAndValidate(svid.Marshal(), source, []string{"aud-1"}); err != nil {
		t.Errorf("ParseAndValidate against the JWT source: %v", err)
	}
}

type rotationWatcher struct {
	mu      sync.Mutex
	serials map[string]bool
	order   []string
	errs    []error
	enough  chan struct{}
	want    int
	// notAfter of the latest SVID seen: its successor must arrive before it expires.
	notAfter time.Time
}

func (w *rotationWatcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(c.SVIDs) == 0 {
		w.errs = append(w.errs, errors.New("an update with no SVIDs"))
		return
	}
	leaf := c.SVIDs[0].Certificates[0]
	if _, _, err := x509svid.Verify(c.SVIDs[0].Certificates, c.Bundles); err != nil {
		w.errs = append(w.errs, err)
	}
	serial := leaf.SerialNumber.String()
	if !w.serials[serial] {
		if now := time.Now(); len(w.order) > 0 && !now.Before(w.notAfter) {
			w.errs = append(w.errs, fmt.Errorf("SVID %s arrived at %s, after its predecessor expired at %s", serial, now, w.notAfter))
		}
		w.notAfter = leaf.NotAfter
		w.serials[serial] = true
		w.order = append(w.order, serial)
		if len(w.order) == w.want {
			close(w.enough)
		}
	}
}

func (w *rotationWatcher) OnX509ContextWatchError(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if status.Code(err) != codes.Canceled {
		w.errs = append(w.errs, err)
	}
}

func TestWorkloadWatchRotation(t *testing.T) {
	env := workloadTarget(t, "identity")
	client, ctx := newWorkloadClient(t, env)
	watcher := &rotationWatcher{serials: map[string]bool{}, enough: make(chan struct{}), want: 3}
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- client.WatchX509Context(watchCtx, watcher) }()
	select {
	case <-watcher.enough:
	case <-ctx.Done():
		t.Fatalf("saw %d distinct SVIDs before the timeout, want %d", len(watcher.order), watcher.want)
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
		t.Errorf("WatchX509Context ended with %v", err)
	}
	watcher.mu.Lock()
	defer watcher.mu.Unlock()
	for _, err := range watcher.errs {
		t.Errorf("watch error: %v", err)
	}
}

// Raw gRPC (go-spiffe's generated client, without go-spiffe's header): the header is mandatory.
func TestWorkloadSecurityHeader(t *testing.T) {
	env := workloadTarget(t, "identity")
	conn, err := grpc.NewClient(env.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	defer cancel()
	api := workload.NewSpiffeWorkloadAPIClient(conn)
	_, err = api.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: []string{"a"}})
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "security header missing from request" {
		t.Errorf("FetchJWTSVID without the header: %v", err)
	}
	stream, err := api.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("FetchX509SVID without the header: %v", err)
	}
}

func TestWorkloadWITUnimplemented(t *testing.T) {
	env := workloadTarget(t, "identity")
	client, ctx := newWorkloadClient(t, env)
	if _, err := client.FetchWITSVID(ctx, ""); status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchWITSVID: %v, want Unimplemented", err)
	}
	if _, err := client.FetchWITBundles(ctx); status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchWITBundles: %v, want Unimplemented", err)
	}
}

// A caller without identity is refused with PermissionDenied, on every call (never an empty SVID list).
func TestWorkloadNoIdentity(t *testing.T) {
	env := workloadTarget(t, "no-identity")
	client, ctx := newWorkloadClient(t, env)
	if _, err := client.FetchX509Context(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchX509Context: %v, want PermissionDenied", err)
	}
	if _, err := client.FetchX509Bundles(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchX509Bundles: %v, want PermissionDenied", err)
	}
	if _, err := client.FetchJWTBundles(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchJWTBundles: %v, want PermissionDenied", err)
	}
	if _, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "a"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchJWTSVID: %v, want PermissionDenied", err)
	}
	// A source keeps waiting for a first identity (the server never sends an empty list): it times out.
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := workloadapi.NewX509Source(short, workloadapi.WithClientOptions(workloadapi.WithAddr(env.addr))); err == nil {
		t.Error("NewX509Source succeeded for a caller without identity")
	}
}
