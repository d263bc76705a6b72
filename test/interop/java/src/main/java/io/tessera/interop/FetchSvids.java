package io.tessera.interop;

import io.spiffe.bundle.jwtbundle.JwtBundleSet;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.svid.jwtsvid.JwtSvid;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.svid.x509svid.X509SvidValidator;
import io.spiffe.workloadapi.DefaultWorkloadApiClient;
import io.spiffe.workloadapi.WorkloadApiClient;
import io.spiffe.workloadapi.X509Context;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Set;

/**
 * java-spiffe against a Workload API socket, unchanged (its grpc-java sends the socket path as :authority).
 * Usage: FetchSvids SOCKET_PATH AUDIENCE. Fetches the X509 context, verifies the SVID's chain against the fetched
 * bundle set, fetches a JWT-SVID for AUDIENCE, validates it locally against the fetched JWT bundles and through the
 * API's ValidateJWTSVID, then prints one JSON line of what it received. Any failure: a message on stderr, exit 1.
 */
public final class FetchSvids {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: FetchSvids SOCKET_PATH AUDIENCE");
      System.exit(2);
    }
    String socket = "unix:" + args[0];
    String audience = args[1];
    DefaultWorkloadApiClient.ClientOptions options =
        DefaultWorkloadApiClient.ClientOptions.builder().spiffeSocketPath(socket).build();
    try (WorkloadApiClient client = DefaultWorkloadApiClient.newClient(options)) {
      X509Context context = client.fetchX509Context();
      X509Svid svid = context.getDefaultSvid();
      X509BundleSet bundles = context.getX509BundleSet();
      X509SvidValidator.verifyChain(svid.getChain(), bundles);

      JwtSvid jwt = client.fetchJwtSvid(audience);
      JwtBundleSet jwtBundles = client.fetchJwtBundles();
      JwtSvid parsed = JwtSvid.parseAndValidate(jwt.getToken(), jwtBundles, Set.of(audience));
      JwtSvid validated = client.validateJwtSvid(jwt.getToken(), audience);

      StringBuilder out = new StringBuilder("{");
      field(out, "x509SpiffeId", svid.getSpiffeId().toString()).append(',');
      out.append("\"x509Chain\":[");
      for (X509Certificate cert : svid.getChain()) {
        if (out.charAt(out.length() - 1) != '[') out.append(',');
        out.append('"').append(Base64.getEncoder().encodeToString(cert.getEncoded())).append('"');
      }
      out.append("],");
      field(out, "jwtSpiffeId", parsed.getSpiffeId().toString()).append(',');
      field(out, "jwtValidatedSpiffeId", validated.getSpiffeId().toString()).append(',');
      field(out, "jwtToken", jwt.getToken());
      System.out.println(out.append('}'));
    }
  }

  private static StringBuilder field(StringBuilder out, String name, String value) {
    // SPIFFE IDs, base64 and JWTs hold no character that needs escaping in JSON.
    return out.append('"').append(name).append("\":\"").append(value).append('"');
  }
}
