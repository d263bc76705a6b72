import { TesseraError } from '../../common/errors.js';
import { splitDer } from '../../spiffe/x509svid/der-reader.js';
import type { BatchSignX509SvidResponse, X509SvidParams } from './messages.js';
import { codeOfStatus } from './status.js';

/** One workload X509-SVID to sign. */
export interface SignRequest {
  readonly entryId: string;
  /** SPKI DER of the instance's key. */
  readonly publicKey: Uint8Array;
  readonly instanceId: string;
  /** The supervisor instance the workload descends from, for entries with a `tessera:supervisor:` selector. */
  readonly supervisorInstanceId?: string;
}

/** A signed workload X509-SVID as the server returned it. */
export interface SignedSvid {
  readonly entryId: string;
  readonly spiffeId: string;
  /** Leaf first, DER. */
  readonly chain: readonly Uint8Array[];
  readonly notAfter: Date;
  /** Hexadecimal. */
  readonly serial: string;
}

export interface BatchSignerOptions {
  /** Sends one BatchSignX509Svid request (ServerClient.unary). */
  readonly send: (params: X509SvidParams[]) => Promise<BatchSignX509SvidResponse>;
  /** How long the first request of a batch waits for company. Default 2 ms. */
  readonly delayMs?: number;
  /** Most items per request (the server allows 1000). Default 500. */
  readonly maxItems?: number;
  readonly onBatch?: (items: number) => void;
}

interface Pending {
  readonly params: X509SvidParams;
  readonly resolve: (svid: SignedSvid) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Coalesces X509-SVID sign requests into BatchSignX509Svid calls: requests arriving within `delayMs` of the first one
 * (or until `maxItems` are queued) go out as one call; batches are sent concurrently. Each request gets its own result
 * (a per-item failure rejects only that request, with the server's status as TesseraError code); a failed call rejects
 * every request of its batch.
 */
export class BatchSigner {
  readonly #send: BatchSignerOptions['send'];
  readonly #delayMs: number;
  readonly #maxItems: number;
  readonly #onBatch: ((items: number) => void) | undefined;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BatchSignerOptions) {
    this.#send = options.send;
    this.#delayMs = options.delayMs ?? 2;
    this.#maxItems = options.maxItems ?? 500;
    this.#onBatch = options.onBatch;
  }

  sign(request: SignRequest): Promise<SignedSvid> {
    return new Promise<SignedSvid>((resolve, reject) => {
      this.#queue.push({
        params: {
          entry_id: request.entryId,
          public_key: Buffer.from(request.publicKey.buffer, request.publicKey.byteOffset, request.publicKey.byteLength),
          instance_id: request.instanceId,
          ...(request.supervisorInstanceId !== undefined && { supervisor_instance_id: request.supervisorInstanceId }),
        },
        resolve,
        reject,
      });
      if (this.#queue.length >= this.#maxItems) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#delayMs);
    });
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxItems);
      this.#onBatch?.(batch.length);
      this.#send(batch.map((p) => p.params)).then(
        (response) => settle(batch, response),
        (err: unknown) => {
          for (const p of batch) p.reject(err);
        },
      );
    }
  }
}

function settle(batch: readonly Pending[], response: BatchSignX509SvidResponse): void {
  batch.forEach((p, i) => {
    const result = response.results[i];
    if (!result) {
      p.reject(new TesseraError('INTERNAL', 'the server returned fewer results than requested'));
    } else if (result.svid) {
      const s = result.svid;
      p.resolve({
        entryId: s.entry_id,
        spiffeId: s.spiffe_id,
        chain: splitDer(s.cert_chain).map((der) => new Uint8Array(der)), // copies: never pin the response buffer
        notAfter: new Date(s.expires_at * 1000),
        serial: s.serial,
      });
    } else {
      p.reject(new TesseraError(codeOfStatus(result.error_code), `signing refused by the server: ${result.error_message}`));
    }
  });
}
