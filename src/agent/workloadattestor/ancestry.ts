import { readProcFile } from './proc.js';

/** One ancestor process: pid and start time (clock ticks since boot), the pair that identifies an instance. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: bigint;
}

/** Most ancestors walked (a guard against a malformed or cyclic /proc). */
const MAX_DEPTH = 256;

/**
 * The ancestors of a process, nearest first: the ppid chain read from /proc/<pid>/stat (field 4 = ppid, field 22 =
 * start time), from `ppid` up to (and including) pid 1. Each ancestor's start time is read so that an instance held
 * by a reused pid is never taken for the ancestor. An ancestor must have started no later than its child (a later
 * start means the pid was reused after the real parent exited): the walk stops there. The walk also stops at a
 * process already gone or unreadable.
 */
export function readAncestry(ppid: number, childStartTime: bigint, procRoot = '/proc'): ProcessRef[] {
  const out: ProcessRef[] = [];
  let pid = ppid;
  let after = childStartTime;
  while (pid > 0 && out.length < MAX_DEPTH) {
    let text: string;
    try {
      text = readProcFile(`${procRoot}/${pid}/stat`);
    } catch {
      break;
    }
    const parsed = parseStatAncestry(text);
    if (!parsed || parsed.startTime > after) break;
    out.push({ pid, startTime: parsed.startTime });
    if (pid === 1) break;
    after = parsed.startTime;
    pid = parsed.ppid;
  }
  return out;
}

/** ppid (field 4) and start time (field 22) from /proc/<pid>/stat text; undefined when malformed. */
export function parseStatAncestry(text: string): { ppid: number; startTime: bigint } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  const ppid = fields[4 - 3];
  const start = fields[22 - 3];
  if (ppid === undefined || start === undefined || !/^\d+$/.test(ppid) || !/^\d+$/.test(start)) return undefined;
  return { ppid: Number(ppid), startTime: BigInt(start) };
}
