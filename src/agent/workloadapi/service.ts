/**
 * The SPIFFE Workload API service (spiffe-notes §4, §9): handlers for every RPC of `SpiffeWorkloadAPI`, on top of
 * WorkloadIdentityProvider only.
 *
 * Order of checks for every call: security header (interceptor, InvalidArgument) → request fields (InvalidArgument)
 * → the connection's caller is attested into a session (PermissionDenied / Unavailable from the provider; anything
 * else the provider throws is "workload attestation failed", Unavailable) → no identity is PermissionDenied
 * "no identity issued" (streams end; an empty SVID list is never sent) → the answer.
 */
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../common/clock.js';
import { invalidArgument, isTesseraError, permissionDenied, unavailable } from '../../common/errors.js';
import { loadService } from '../../common/grpc/protos.js';
import { toStatus } from '../../common/grpc/status.js';
import { checkJwtAudience, checkJwtAudienceValue } from '../../common/jwt-audience.js';
import type { Logger } from '../../common/log.js';
import { BundleSet } from '../../spiffe/bundle/index.js';
import { isSpiffeError } from '../../spiffe/errors.js';
import { SpiffeId } from '../../spiffe/id/index.js';
import { parseAndValidateJwtSvid } from '../../spiffe/jwtsvid/index.js';
import type { WorkloadIdentityProvider, WorkloadSession } from '../types.js';
import { connectionOf } from './connections.js';
import { jwtBundlesResponse, jwtSvidMessages, toStruct, x509BundlesResponse, x509SvidResponse } from './messages.js';
import type { WorkloadApiMetrics } from './metrics.js';
import { securityHeaderInterceptor } from './security-header.js';
import { endCall, NO_IDENTITY_DETAILS, StreamRegistry, type StreamMethod } from './streams.js';

export const WORKLOAD_API_PROTO = 'spiffe/workload/workload.proto';
export const WORKLOAD_API_SERVICE = 'SpiffeWorkloadAPI';
export const WIT_UNIMPLEMENTED_DETAILS = 'the WIT-SVID profile is not supported';

export interface WorkloadApiServiceOptions {
  readonly provider: WorkloadIdentityProvider;
  readonly log: Logger;
  readonly metrics?: WorkloadApiMetrics;
  /** The time ValidateJWTSVID validates at; default the system clock. */
  readonly clock?: Clock;
  /** Stream deliveries per event-loop turn during a fan-out (streams.ts). */
  readonly fanoutChunk?: number;
}

export interface WorkloadApiService {
  /** The service definition to register: like the proto's, but a pre-encoded Buffer is written as-is. */
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Server interceptors, in order (metrics, then the security header check). */
  readonly interceptors: grpc.ServerInterceptor[];
  readonly streams: StreamRegistry;
}

/**
 * The proto's definition with every response serializer made to pass a Buffer through unchanged: streams write the
 * message of a session change serialized once, to all of their streams (see streams.ts).
 */
function preEncodedDefinition(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.responseSerialize;
    out[name] = {
      ...method,
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)),
    };
  }
  return out as grpc.ServiceDefinition;
}

export function createWorkloadApiService(options: WorkloadApiServiceOptions): WorkloadApiService {
  const { provider, metrics } = options;
  const log = options.log; // the caller binds the component
  const clock = options.clock ?? systemClock;
  const { definition: protoDefinition } = loadService(WORKLOAD_API_PROTO, WORKLOAD_API_SERVICE);
  const serializer = (method: string) => protoDefinition[method]!.responseSerialize;
  const serializeX509 = serializer('FetchX509SVID');
  const serializeX509Bundles = serializer('FetchX509Bundles');
  const serializeJwtBundles = serializer('FetchJWTBundles');

  const streams = new StreamRegistry({
    log,
    ...(metrics && { metrics }),
    ...(options.fanoutChunk !== undefined && { chunk: options.fanoutChunk }),
    encoders: {
      FetchX509SVID: (state) => {
        const msg = x509SvidResponse(state, log);
        return msg.svids.length === 0 ? null : serializeX509(msg);
      },
      FetchX509Bundles: (state) => (state.x509Svids.length === 0 ? null : serializeX509Bundles(x509BundlesResponse(state))),
      FetchJWTBundles: (state) => (state.x509Svids.length === 0 ? null : serializeJwtBundles(jwtBundlesResponse(state))),
    },
  });

  /** Attests the call's caller (bound to the connection: the first call's process, see ConnectionBinding). */
  async function sessionOf(call: { getPeer(): string }): Promise<WorkloadSession> {
    const conn = connectionOf(call);
    if (!conn) {
      log.error({ peer: call.getPeer() }, 'A Workload API call arrived on a connection with no caller credentials');
      throw unavailable('workload attestation failed');
    }
    try {
      return await provider.session(conn.caller, conn);
    } catch (err) {
      if (isTesseraError(err)) throw err;
      log.error({ err, pid: conn.caller.pid }, 'Workload attestation failed');
      throw unavailable('workload attestation failed', { cause: err });
    }
  }

  function stream(method: StreamMethod): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      (async () => {
        const session = await sessionOf(call);
        if (!call.cancelled) streams.open(method, call, session);
      })().catch((err: unknown) => {
        const s = toStatus(err, log);
        endCall(call, s.code, s.details);
      });
    };
  }

  const unimplementedStream: grpc.handleServerStreamingCall<unknown, unknown> = (call) =>
    endCall(call, grpc.status.UNIMPLEMENTED, WIT_UNIMPLEMENTED_DETAILS);

  const fetchJwtSvid: grpc.handleUnaryCall<JwtSvidRequest, unknown> = (call, callback) => {
    (async () => {
      const { audience, spiffe_id: requested } = call.request;
      checkJwtAudience(audience);
      let spiffeId: string | undefined;
      if (requested !== '') {
        try {
          spiffeId = SpiffeId.parse(requested).toString();
        } catch (err) {
          throw invalidArgument(`invalid requested SPIFFE ID: ${(err as Error).message}`, { cause: err });
        }
      }
      const session = await sessionOf(call);
      if (session.current().x509Svids.length === 0) throw permissionDenied(NO_IDENTITY_DETAILS);
      const svids = jwtSvidMessages(await session.fetchJwtSvids(audience, spiffeId), log);
      if (svids.length === 0) throw permissionDenied(NO_IDENTITY_DETAILS);
      return { svids };
    })().then(
      (response) => callback(null, response),
      (err: unknown) => callback(toStatus(err, log)),
    );
  };

  const validateJwtSvid: grpc.handleUnaryCall<ValidateJwtSvidRequest, unknown> = (call, callback) => {
    (async () => {
      const { audience, svid } = call.request;
      if (audience === '') throw invalidArgument('audience must be specified');
      checkJwtAudienceValue(audience);
      if (svid === '') throw invalidArgument('svid must be specified');
      const session = await sessionOf(call);
      if (session.current().x509Svids.length === 0) throw permissionDenied(NO_IDENTITY_DETAILS);
      const { own, federated } = provider.jwtBundles();
      // Own last: a federated bundle can never stand in for the own trust domain's.
      const bundles = new BundleSet([...federated.values()].filter((b) => !b.trustDomain.equals(own.trustDomain)));
      bundles.add(own);
      let validated;
      try {
        validated = await parseAndValidateJwtSvid(svid, bundles, [audience], { now: clock.now() });
      } catch (err) {
        if (!isSpiffeError(err)) throw err;
        log.debug({ err, audience }, 'A JWT-SVID failed validation');
        throw invalidArgument(err.message, { cause: err });
      }
      // Every claim is returned (spec: SHOULD), `aud` always as a list (as SPIRE does).
      return {
        spiffe_id: validated.spiffeId.toString(),
        claims: toStruct({ ...validated.claims, aud: validated.audience }),
      };
    })().then(
      (response) => callback(null, response),
      (err: unknown) => callback(toStatus(err, log)),
    );
  };

  const implementation: grpc.UntypedServiceImplementation = {
    FetchX509SVID: stream('FetchX509SVID'),
    FetchX509Bundles: stream('FetchX509Bundles'),
    FetchJWTBundles: stream('FetchJWTBundles'),
    FetchJWTSVID: fetchJwtSvid as grpc.handleUnaryCall<unknown, unknown>,
    ValidateJWTSVID: validateJwtSvid as grpc.handleUnaryCall<unknown, unknown>,
    FetchWITSVID: unimplementedStream,
    FetchWITBundles: unimplementedStream,
  };

  const interceptors: grpc.ServerInterceptor[] = [];
  if (metrics?.rpcTotal || metrics?.rpcDuration) interceptors.push(metricsInterceptor(metrics));
  interceptors.push(securityHeaderInterceptor());

  return { definition: preEncodedDefinition(protoDefinition), implementation, interceptors, streams };
}

interface JwtSvidRequest {
  audience: string[];
  spiffe_id: string;
}

interface ValidateJwtSvidRequest {
  audience: string;
  svid: string;
}

/**
 * Counts every call once by its end: its final status, or CANCELLED when the workload went away first (a stream the
 * workload closes never gets a status); observes its duration (stream lifetime for streams).
 */
function metricsInterceptor(metrics: WorkloadApiMetrics): grpc.ServerInterceptor {
  return (method, call) => {
    const started = process.hrtime.bigint();
    const name = method.path.slice(method.path.lastIndexOf('/') + 1);
    let counted = false;
    const count = (code: grpc.status) => {
      if (counted) return;
      counted = true;
      metrics.rpcTotal?.inc({ method: name, code: grpc.status[code] ?? String(code) });
      metrics.rpcDuration?.observe({ method: name }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({ onCancel: () => count(grpc.status.CANCELLED) });
      },
      sendStatus(status, next) {
        count(status.code);
        next(status);
      },
    });
  };
}
