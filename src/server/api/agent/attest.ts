import type * as grpc from '@grpc/grpc-js';
import { unixSeconds } from '../../../common/clock.js';
import { failedPrecondition, internal, invalidArgument, permissionDenied, unavailable } from '../../../common/errors.js';
import { encodePublicKey } from '../../../spiffe/x509svid/public-key.js';
import { isKnownNodeAttestor } from '../../nodeattestation/index.js';
import type { AgentApiContext } from './context.js';
import { failStream } from './call.js';
import { toProtoSelectors, type AttestationResultMessage, type AttestRequest, type AttestResponse } from './messages.js';

/** Messages an agent may send ahead of the server's reply before the stream is refused as garbage. */
const MAX_QUEUED = 4;

/**
 * Attest (bidi): `start` → [challenge ↔ challenge_response]* → result. Order matters: the agent key is checked before
 * the attestor runs (a garbage key must not burn a join token), a banned agent is refused before and (atomically) at
 * the record write, and the audit event is written before the result is sent. Each remote address may start only so
 * many Attests (ctx.admitAttest: RESOURCE_EXHAUSTED past its rate), and an Attest past its deadline consumes no join
 * token.
 */
export function attestHandler(ctx: AgentApiContext): grpc.handleBidiStreamingCall<AttestRequest, AttestResponse> {
  return (call) => {
    try {
      ctx.admitAttest(call);
    } catch (err) {
      failStream(call, err, ctx.log);
      return;
    }
    const reader = new MessageReader(call);
    const deadline = new AbortController();
    // At the deadline the agent gets UNAVAILABLE, every wait on it fails, and the attestor is told: it refuses to start
    // an irrevocable step (consuming a join token) after that, so a timed-out Attest has used nothing up.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = unavailable(`attestation did not complete within ${formatMs(ctx.attestTimeoutMs)}`);
        deadline.abort(err);
        reader.fail(err);
        reject(err);
      }, ctx.attestTimeoutMs);
    });
    Promise.race([attest(ctx, call, reader, deadline.signal), timeout])
      .then(
        (result) => {
          call.write({ result });
          call.end();
        },
        (err: unknown) => failStream(call, err, ctx.log),
      )
      .finally(() => {
        clearTimeout(timer);
        reader.close();
      });
  };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

async function attest(
  ctx: AgentApiContext,
  call: grpc.ServerDuplexStream<AttestRequest, AttestResponse>,
  reader: MessageReader,
  signal: AbortSignal,
): Promise<AttestationResultMessage> {
  const first = await reader.next();
  const start = first.step === 'start' ? first.start : undefined;
  if (!start) throw invalidArgument('the first attestation message must be "start"');
  const attestor = ctx.nodeAttestors.get(start.attestor);
  if (!attestor) {
    if (isKnownNodeAttestor(start.attestor)) {
      throw failedPrecondition(`node attestor ${JSON.stringify(start.attestor)} is not enabled on this server`);
    }
    throw invalidArgument(`unknown node attestor ${JSON.stringify(start.attestor)}`);
  }
  if (start.agent_public_key.length === 0) throw invalidArgument('agent_public_key is required');
  const publicKey = encodePublicKey(start.agent_public_key).spki;

  signal.throwIfAborted();
  const attestation = await attestor.attest({ payload: start.payload, signal }, async (nonce) => {
    call.write({ challenge: nonce });
    const answer = await reader.next();
    if (answer.step !== 'challenge_response' || !answer.challenge_response) {
      throw invalidArgument('expected a challenge_response message');
    }
    return answer.challenge_response;
  });
  const agentId = attestation.agentId.toString();
  if (!ctx.authenticator.isAgentId(agentId)) {
    throw internal(`attestor ${attestor.name} produced ${JSON.stringify(agentId)}, which is not an agent ID`);
  }
  const existing = await ctx.agents.get(agentId);
  if (existing?.banned) throw permissionDenied('agent is banned');

  const issued = ctx.x509Issuer.signX509Svid({
    spiffeId: attestation.agentId,
    publicKey,
    ttlSeconds: ctx.policy.agentSvidTtlSeconds,
  });
  ctx.authenticator.rememberChain(issued.chain);
  const serial = issued.serial.toString(16);
  const expiresAt = Math.floor(issued.notAfter.getTime() / 1000);
  await ctx.agents.upsertAttested({
    spiffeId: agentId,
    attestor: attestor.name,
    selectors: attestation.selectors,
    svidSerial: serial,
    svidExpiresAt: expiresAt,
    attestedAt: unixSeconds(ctx.clock),
  });
  await ctx.record([
    {
      kind: 'agent.attested',
      spiffeId: agentId,
      agentId,
      serial,
      expiresAt,
      details: { attestor: attestor.name, selectors: attestation.selectors, reattested: existing !== null },
    },
  ]);
  ctx.metrics?.svidsSigned.inc({ kind: 'agent' });
  ctx.log.info({ agentId, attestor: attestor.name, serial, reattested: existing !== null }, 'Agent attested');
  return {
    spiffe_id: agentId,
    svid_chain: Buffer.concat(issued.chain),
    bundle: Buffer.concat(ctx.bundle.currentBundle().x509Bundle.x509Authorities),
    selectors: toProtoSelectors(attestation.selectors),
  };
}

/** Pull-style reading of a bidi stream's messages; ending or cancelling the stream rejects the pending read. */
class MessageReader {
  readonly #queue: AttestRequest[] = [];
  #waiter: { resolve: (m: AttestRequest) => void; reject: (e: unknown) => void } | undefined;
  #failure: unknown;
  readonly #call: grpc.ServerDuplexStream<AttestRequest, AttestResponse>;
  readonly #onData = (m: AttestRequest) => this.#push(m);
  readonly #onEnd = () => this.#fail(invalidArgument('attestation stream ended before the attestation completed'));
  readonly #onCancel = () => this.#fail(unavailable('attestation cancelled by the agent'));

  constructor(call: grpc.ServerDuplexStream<AttestRequest, AttestResponse>) {
    this.#call = call;
    call.on('data', this.#onData);
    call.on('end', this.#onEnd);
    call.on('cancelled', this.#onCancel);
    call.on('error', this.#onCancel);
  }

  next(): Promise<AttestRequest> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#waiter) return Promise.reject(internal('concurrent reads of the attestation stream'));
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  close(): void {
    this.#call.off('data', this.#onData);
    this.#call.off('end', this.#onEnd);
    this.#call.off('cancelled', this.#onCancel);
    this.#call.off('error', this.#onCancel);
    this.#fail(unavailable('attestation stream closed'));
  }

  /** Fails the pending and every later read with `err`. */
  fail(err: unknown): void {
    this.#fail(err);
  }

  #push(m: AttestRequest): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(m);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED) {
      this.#fail(invalidArgument('agent sent attestation messages the server did not ask for'));
      return;
    }
    this.#queue.push(m);
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    this.#queue.length = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(this.#failure);
  }
}
