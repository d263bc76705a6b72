// The baseline server of bench/workload-api.mjs: a bare grpc-js server with the SpiffeWorkloadAPI service on a Unix
// socket whose FetchX509SVID writes one fixed, pre-encoded X509SVIDResponse and keeps the stream open until the
// client cancels, exactly the shape of the agent's answer, without attestation, sessions or interceptors. The bytes
// are a real answer: fetched once from the agent at start (this process is one more workload instance).
// Usage: node _workload-echo.mjs <agentSocketPath> <listenSocketPath>
// Prints {"ready":true,"bytes":N} on stdout once listening; exits on SIGTERM or when stdin closes.
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../dist/common/grpc/protos.js';
import { connect, fetchFirst, firstSvid } from './_workload-raw.mjs';

const [agentSocket, listenSocket] = process.argv.slice(2);

async function main() {
  const session = await connect(agentSocket);
  const message = Buffer.from(await fetchFirst(session));
  firstSvid(message); // a valid answer
  session.destroy();
  const frame = message; // written as-is by the pass-through serializer below

  const { definition } = loadService('spiffe/workload/workload.proto', 'SpiffeWorkloadAPI');
  const passThrough = {};
  for (const [name, method] of Object.entries(definition)) {
    passThrough[name] = { ...method, responseSerialize: (v) => (Buffer.isBuffer(v) ? v : method.responseSerialize(v)) };
  }
  const server = new grpc.Server();
  const unimplemented = (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'baseline' });
  server.addService(passThrough, {
    FetchX509SVID: (call) => {
      call.write(frame);
      // Kept open like the agent's stream; grpc-js ends it when the client cancels.
    },
    FetchX509Bundles: unimplemented,
    FetchJWTBundles: unimplemented,
    FetchJWTSVID: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'baseline' }),
    ValidateJWTSVID: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'baseline' }),
    FetchWITSVID: unimplemented,
    FetchWITBundles: unimplemented,
  });
  await new Promise((resolve, reject) =>
    server.bindAsync(`unix://${listenSocket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  process.stdout.write(`${JSON.stringify({ ready: true, bytes: frame.length })}\n`);
  const stop = () => {
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exit(1);
});
