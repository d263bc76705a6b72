import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logOpenFileLimit, readOpenFileLimit } from '../../../src/common/fd-limit.js';
import { captureLogger } from '../../helpers/log-capture.js';

describe('open-file limit', () => {
  it('reads soft and hard RLIMIT_NOFILE of this process: Node already raised soft to hard', () => {
    const limit = readOpenFileLimit();
    expect(limit).toBeDefined();
    expect(limit!.soft).toBe(limit!.hard);
  });

  it('parses /proc/<pid>/limits and gives undefined for "unlimited" or a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-limits-'));
    try {
      const file = join(dir, 'limits');
      writeFileSync(file, 'Limit   Soft Limit   Hard Limit   Units\nMax open files            1024                 524288               files\n');
      expect(readOpenFileLimit(file)).toEqual({ soft: 1024, hard: 524288 });
      writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
      expect(readOpenFileLimit(file)).toBeUndefined();
      expect(readOpenFileLimit(join(dir, 'missing'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns when a connection cap does not fit under the limit', () => {
    const { log, lines } = captureLogger('info');
    const soft = readOpenFileLimit()!.soft;
    logOpenFileLimit(log, 10, 'workloadApi.maxConnections');
    logOpenFileLimit(log, soft, 'workloadApi.maxConnections');
    const warns = lines().filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ 'workloadApi.maxConnections': soft, openFilesSoft: soft });
  });
});
