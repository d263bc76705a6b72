/**
 * deploy/Containerfile cannot be built here (no container engine), so this checks what can go wrong without one:
 * every COPY source exists in the build context (the repository root, minus .dockerignore) or is made by the build
 * stage, the runtime stage gets the CLI, its dependencies and the proto files it loads, and the base image's Node
 * major version is the one package.json's engines asks for.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONTAINERFILE = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
/** What the build stage's RUN steps create in its WORKDIR (checked against our own build output where it has one). */
const BUILD_OUTPUTS = ['node_modules', 'dist'];

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string | undefined;
  readonly from: string;
  readonly steps: Instruction[];
}

/** Instructions (continuation lines joined, comments dropped), grouped by FROM. */
function parse(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`not an instruction: ${JSON.stringify(line)}`);
    const [, op, rest] = m as unknown as [string, string, string];
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args.set(k!, v ?? '');
    } else if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: f[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), name: f[2], steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op, args: rest });
    }
  }
  return { args, stages };
}

/** COPY's flags, sources and destination. */
function copyOf(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

/** .dockerignore patterns that exclude `path` (plain names and `*.ext`, the forms our file uses). */
function ignoredBy(path: string): string[] {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return patterns.filter((p) =>
    p.startsWith('*.') ? path.endsWith(p.slice(1)) : path === p || path.startsWith(`${p}/`),
  );
}

/** What is wrong with a Containerfile's copies, one line each (empty = nothing found). */
function copyProblems(text: string): string[] {
  const problems: string[] = [];
  const { stages } = parse(text);
  const build = stages.find((s) => s.name === 'build');
  if (!build) return ['no stage named "build"'];
  const copies = (s: Stage) => s.steps.filter((i) => i.op === 'COPY').map((i) => copyOf(i.args));
  for (const c of stages.flatMap(copies).filter((c) => c.from === undefined)) {
    for (const src of c.sources) {
      if (!existsSync(join(ROOT, src))) problems.push(`COPY ${src}: not in the repository`);
      else if (ignoredBy(src).length > 0) problems.push(`COPY ${src}: excluded by .dockerignore (${ignoredBy(src).join(', ')})`);
    }
  }
  const workdir = build.steps.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';
  const present = new Set(BUILD_OUTPUTS);
  for (const c of copies(build)) for (const src of c.sources) present.add(c.dest === './' ? src : posix.normalize(c.dest));
  for (const c of stages.flatMap(copies).filter((c) => c.from === 'build')) {
    for (const src of c.sources) {
      const rel = posix.relative(workdir, src);
      if (rel.startsWith('..')) problems.push(`COPY --from=build ${src}: outside the build stage's WORKDIR ${workdir}`);
      else if (!present.has(rel)) problems.push(`COPY --from=build ${src}: neither copied into nor built by the build stage`);
      // What the build makes exists in our own build output too (the suite builds dist before the tests).
      else if (!existsSync(join(ROOT, rel))) problems.push(`COPY --from=build ${src}: missing from the repository / build output`);
    }
  }
  return problems;
}

const { stages } = parse(CONTAINERFILE);
const build = stages.find((s) => s.name === 'build');
const runtime = stages.at(-1)!;

describe('deploy/Containerfile', () => {
  it('has a build stage and a separate runtime stage on a Node.js base of the engines major', () => {
    expect(stages).toHaveLength(2);
    expect(build).toBeDefined();
    expect(runtime).not.toBe(build);
    const engines = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node as string;
    const major = /(\d+)/.exec(engines)![1];
    for (const s of stages) expect(s.from).toMatch(new RegExp(`/node:${major}-[a-z]+-slim$`));
  });

  it('copies only paths that exist in the context (not ignored) or that the build stage copied in or built', () => {
    expect(copyProblems(CONTAINERFILE)).toEqual([]);
    expect(stages.flatMap((s) => s.steps).filter((i) => i.op === 'COPY').length).toBeGreaterThan(5);
  });

  it.each([
    ['a source missing from the repository', 'COPY src ./src', 'COPY srcs ./src', /COPY srcs: not in the repository/],
    ['an ignored source', 'COPY LICENSE README.md ./', 'COPY LICENSE README.md certs ./', /COPY certs: excluded by \.dockerignore/],
    ['a file the build never made', 'COPY --from=build /src/dist ./dist', 'COPY --from=build /src/build ./dist', /\/src\/build: neither copied into nor built/],
    ['a path outside the build WORKDIR', 'COPY --from=build /src/proto ./proto', 'COPY --from=build /proto ./proto', /outside the build stage's WORKDIR/],
  ])('finds %s', (_name, from, to, problem) => {
    const broken = CONTAINERFILE.replace(from, to);
    expect(broken).not.toBe(CONTAINERFILE);
    expect(copyProblems(broken).join('\n')).toMatch(problem);
  });

  it('gives the runtime the CLI, production dependencies, the proto files and a non-root user', () => {
    const runtimeCopies = runtime.steps.filter((i) => i.op === 'COPY').map((i) => copyOf(i.args));
    const dests = runtimeCopies.map((c) => posix.normalize(c.dest));
    for (const needed of ['dist', 'node_modules', 'proto', 'package.json']) expect(dests).toContain(needed);
    expect(build!.steps.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
    expect(build!.steps.some((i) => i.op === 'RUN' && /^npm ci\b/.test(i.args))).toBe(true);
    expect(runtime.steps.filter((i) => i.op === 'USER').at(-1)?.args).toBe('node');
    const entry = JSON.parse(runtime.steps.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    const workdir = runtime.steps.filter((i) => i.op === 'WORKDIR').at(-1)!.args;
    expect(entry[0]).toBe('node');
    const script = posix.relative(workdir, entry[1]!);
    expect(script).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin.tessera);
    expect(existsSync(join(ROOT, script))).toBe(true);
  });

  it('keeps local state, keys and build output out of the context', () => {
    for (const p of ['node_modules', 'dist', '.tessera', 'certs/server.key', 'bundle.pem', '.git']) {
      expect(ignoredBy(p), p).not.toEqual([]);
    }
  });
});
