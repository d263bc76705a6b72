// Starting the built daemons and running the built CLI for the benchmarks (server-issuance, workload-api): one copy
// of the "spawn, wait for the ready log line, stop" and "CLI with JSON output" code.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/**
 * Writes `config` to `<dir>/<noun>.json` and starts `tessera <noun> run` (under `nodeArgs`, e.g. --cpu-prof) in
 * `dir`. Resolves with the fields of its `readyMsg` log line and the daemon `{ name, proc, exited }`; log lines at
 * error level and above are copied to our stderr. `track(daemon)` is called right after the spawn, so a caller can stop
 * a daemon that never becomes ready.
 */
export async function startDaemon({ dir, noun, config, readyMsg, nodeArgs = [], timeoutMs = 30_000, track = () => {} }) {
  const file = join(dir, `${noun}.json`);
  writeFileSync(file, JSON.stringify(config));
  const proc = spawn(process.execPath, [...nodeArgs, CLI, noun, 'run', '--config', file], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
  const daemon = { name: noun, proc, exited };
  track(daemon);
  let buffered = '';
  let text = '';
  const line = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${noun} not ready within ${timeoutMs / 1000} s:\n${text}`)), timeoutMs);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      if (text.length < 20_000) text += chunk;
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const l = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const entry = JSON.parse(l);
          if (entry.msg === readyMsg) {
            clearTimeout(t);
            resolve(entry);
          } else if (entry.level === 'error' || entry.level === 'fatal') {
            process.stderr.write(`${noun}: ${l}\n`);
          }
        } catch {
          // not JSON: kept in `text`
        }
      }
      if (buffered.length > 1e6) buffered = '';
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`${noun} exited (${code}) before it was ready: ${text.trim().split('\n').pop()}`));
    });
  });
  return { line, daemon };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
export async function stopDaemon(d, graceMs = 10_000) {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return d.exited;
  d.proc.kill('SIGTERM');
  const t = setTimeout(() => d.proc.kill('SIGKILL'), graceMs);
  const code = await d.exited;
  clearTimeout(t);
  return code;
}

/** Runs the built CLI against the admin socket with JSON output; resolves with the parsed output. */
export function cli(socket, argv, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...argv, '--socket', socket, '--output', 'json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      if (code !== 0) reject(new Error(`tessera ${argv.slice(0, 2).join(' ')} exited ${code}: ${err.trim()}`));
      else {
        try {
          resolve(JSON.parse(out));
        } catch {
          reject(new Error(`tessera ${argv.slice(0, 2).join(' ')} printed no JSON: ${out.slice(0, 200)}`));
        }
      }
    });
    p.stdin.end(input ?? '');
  });
}
