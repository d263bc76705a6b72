/**
 * deploy/kubernetes: every manifest decodes strictly into the Kubernetes API types (the Go test in this directory,
 * k8s.io/api + k8s.io/apimachinery, unknown and duplicate fields refused) and its references hold together; the
 * Tessera configs inside the ConfigMaps pass our own config validation and agree with the pods' mounts. The
 * manifests are never applied to a cluster here.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseAgentConfig } from '../../src/agent/config.js';
import { parseServerConfig } from '../../src/server/config.js';
import { findGo } from '../helpers/go.js';

const DEPLOY_TEST_DIR = fileURLToPath(new URL('.', import.meta.url));
const MANIFESTS = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
const GO_TIMEOUT_MS = 10 * 60_000;

const scratch = await mkdtemp(join(tmpdir(), 'tessera-k8s-'));
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function runGo(go: string, args: string[], manifests?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: [dirname(go), process.env['PATH'] ?? ''].join(delimiter) };
  if (manifests !== undefined) env['TESSERA_MANIFESTS'] = manifests;
  else delete env['TESSERA_MANIFESTS'];
  const r = spawnSync(go, args, { cwd: DEPLOY_TEST_DIR, env, encoding: 'utf8', timeout: GO_TIMEOUT_MS });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** A copy of deploy/kubernetes with `from` replaced by `to` in `file` (which must contain it). */
async function brokenCopy(name: string, file: string, from: string | RegExp, to: string): Promise<string> {
  const dir = join(scratch, name);
  await cp(MANIFESTS, dir, { recursive: true });
  const text = await readFile(join(dir, file), 'utf8');
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file} has no ${String(from)} to break`);
  await writeFile(join(dir, file), changed);
  return dir;
}

describe('strict decoding into k8s.io/api (test/deploy/*.go)', () => {
  const go = findGo();

  it('finds the Go toolchain (PATH or /usr/local/go/bin)', () => {
    expect(go, 'no `go` on PATH nor in /usr/local/go/bin; install Go ≥ 1.24').toBeDefined();
  });

  it(
    'decodes every manifest strictly and finds every reference',
    () => {
      const r = runGo(go!, ['test', '-count=1', '-v', '.']);
      expect(r.output).toMatch(/^--- PASS: TestManifestsDecodeStrictly \(/m);
      expect(r.output).toMatch(/^--- PASS: TestStrictDecoderRefusesBadInput \(/m);
      expect(r.output, 'no Go test may skip').not.toMatch(/--- SKIP/);
      expect(r.code, r.output).toBe(0);
    },
    GO_TIMEOUT_MS,
  );

  // Each broken copy must fail the Go test, with a message that names the problem.
  const broken: [string, string, string | RegExp, string, RegExp][] = [
    ['misspelt field', 'agent.yaml', 'hostPID: true', 'hostPid: true', /unknown field "spec\.template\.spec\.hostPid"/],
    ['duplicate field', 'server.yaml', '  replicas: 1\n', '  replicas: 1\n  replicas: 2\n', /key "replicas" already set/],
    ['wrong type', 'server.yaml', 'replicas: 1', 'replicas: one', /replicas|cannot unmarshal|json/i],
    ['unknown kind', 'rbac.yaml', 'kind: RoleBinding', 'kind: RoleBindin', /no kind "RoleBindin"/],
    ['hostPID off', 'agent.yaml', 'hostPID: true', 'hostPID: false', /needs hostPID: true/],
    ['missing ConfigMap', 'agent.yaml', /(configMap:\n\s+name: )tessera-bundle\n/, '$1tessera-bundel\n', /no ConfigMap "tessera-bundel"/],
    ['selector matching nothing', 'server.yaml', /selector:\n {4}app\.kubernetes\.io\/name: tessera-server/, 'selector:\n    app.kubernetes.io/name: tessera-srv', /matches no pod template/],
    ['wrong namespace', 'rbac.yaml', /namespace: tessera\n/, 'namespace: default\n', /in namespace "default", want "tessera"/],
    ['unnamed target port', 'server.yaml', 'targetPort: agent-api', 'targetPort: agentapi', /targets "agentapi"/],
  ];
  it.each(broken)(
    'fails on a copy with a %s',
    async (name, file, from, to, message) => {
      const dir = await brokenCopy(name.replaceAll(' ', '-'), file, from, to);
      const r = runGo(go!, ['test', '-count=1', '-run', '^TestManifestsDecodeStrictly$', '.'], dir);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toMatch(message);
    },
    GO_TIMEOUT_MS,
  );

  it(
    'go vet is clean',
    () => {
      const r = runGo(go!, ['vet', '.']);
      expect(r.code, r.output).toBe(0);
    },
    GO_TIMEOUT_MS,
  );
});

type K8sObject = { kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };

async function manifests(): Promise<K8sObject[]> {
  const out: K8sObject[] = [];
  for (const file of (await readdir(MANIFESTS)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(MANIFESTS, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as K8sObject | null;
      if (value !== null) out.push(value);
    }
  }
  return out;
}

const objects = await manifests();
const find = (kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${JSON.stringify(name)} in deploy/kubernetes`);
  return o;
};
/** Where `volume` is mounted in the first container of a workload's pod template. */
const mountOf = (workload: K8sObject, volume: string): string | undefined =>
  workload.spec.template.spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === volume)?.mountPath;

describe('the Tessera configs in the ConfigMaps', () => {
  const serverYaml = find('ConfigMap', 'tessera-server-config').data!['server.yaml']!;
  const agentYaml = find('ConfigMap', 'tessera-agent-config').data!['agent.yaml']!;

  it('pass the server and agent config validation', () => {
    expect(() => parseServerConfig(parseYaml(serverYaml), '/etc/tessera')).not.toThrow();
    expect(() => parseAgentConfig(parseYaml(agentYaml), '/etc/tessera')).not.toThrow();
  });

  it('put the server data dir on the StatefulSet volume and its config where the container reads it', () => {
    const cfg = parseServerConfig(parseYaml(serverYaml), '/etc/tessera');
    const sts = find('StatefulSet', 'tessera-server');
    expect(mountOf(sts, 'data')).toBe(cfg.dataDir);
    expect(sts.spec.volumeClaimTemplates.map((c: { metadata: { name: string } }) => c.metadata.name)).toContain('data');
    const args: string[] = sts.spec.template.spec.containers[0].args;
    expect(args.slice(0, 3)).toEqual(['server', 'run', '--config']);
    expect(mountOf(sts, 'config')).toBe(args[3]);
    expect(posix.dirname(cfg.nodeAttestors.x509pop!.caBundleFile)).toBe(mountOf(sts, 'node-ca'));
    const env = sts.spec.template.spec.containers[0].env as { name: string; value: string }[];
    expect(env.find((e) => e.name === 'TESSERA_ADMIN_SOCKET')?.value).toBe(cfg.adminSocketPath);
  });

  it('put the agent socket in the hostPath directory and every file it reads on a mount', () => {
    const cfg = parseAgentConfig(parseYaml(agentYaml), '/etc/tessera');
    const ds = find('DaemonSet', 'tessera-agent');
    const pod = ds.spec.template.spec;
    const socketDir = pod.volumes.find((v: { name: string }) => v.name === 'socket-dir');
    expect(socketDir.hostPath.path).toBe(posix.dirname(cfg.socketPath));
    expect(mountOf(ds, 'socket-dir')).toBe(posix.dirname(cfg.socketPath));
    expect(mountOf(ds, 'data')).toBe(cfg.dataDir);
    expect(cfg.bootstrap.kind === 'bundle' && posix.dirname(cfg.bootstrap.trustBundlePath)).toBe(mountOf(ds, 'bundle'));
    expect(cfg.nodeAttestor.kind).toBe('x509pop');
    if (cfg.nodeAttestor.kind === 'x509pop') {
      expect(posix.dirname(cfg.nodeAttestor.certFile)).toBe(mountOf(ds, 'node-credentials'));
      expect(posix.dirname(cfg.nodeAttestor.keyFile)).toBe(mountOf(ds, 'node-credentials'));
    }
    expect(mountOf(ds, 'config')).toBe(pod.containers[0].args[3]);
    // The probes ask the agent's own HTTP listener.
    expect(pod.containers[0].readinessProbe.exec.command.join(' ')).toContain(`http://${cfg.httpListen}/readyz`);
  });

  it('point the agent at the server Service on its agent API port', () => {
    const cfg = parseAgentConfig(parseYaml(agentYaml), '/etc/tessera');
    const svc = find('Service', 'tessera-server');
    const port = svc.spec.ports.find((p: { name: string }) => p.name === 'agent-api').port;
    expect(cfg.serverAddress).toBe(`tessera-server.tessera.svc.cluster.local:${port}`);
    const server = parseServerConfig(parseYaml(serverYaml), '/etc/tessera');
    expect(server.agentApi.listen).toBe(`0.0.0.0:${port}`);
    expect(server.trustDomain).toBe(String(cfg.trustDomain.name));
  });
});
