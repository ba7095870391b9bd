/**
 * A small reader of `strace -f -y -s N -o FILE` output: one record per system
 * call, with the index of the line where it started and the one where it
 * finished (an `<unfinished ...>` call is completed by its `<... resumed>`
 * line of the same pid), the fd's path as strace printed it (`-y`: a file's
 * path, `socket:[inode]`), and the data strings it carried.
 */
import { readFileSync } from 'node:fs';

export interface Syscall {
  pid: number;
  name: string;
  /** What `-y` printed for the first argument: a path or `socket:[inode]`. */
  path: string | undefined;
  /** The quoted strings of the call (the buffers of write/writev/read...), still escaped as strace prints them. */
  data: string;
  result: string;
  start: number;
  end: number;
}

const QUOTED = /"((?:[^"\\]|\\.)*)"/g;

export function readTrace(file: string): Syscall[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Syscall[] = [];
  const pending = new Map<number, Syscall>();
  lines.forEach((line, i) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const pid = Number(m[1]);
    const rest = m[2]!;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const call = pending.get(pid);
      if (!call) return;
      pending.delete(pid);
      call.data += strings(resumed[2]!);
      call.result = /=\s*(.*)$/.exec(resumed[2]!)?.[1] ?? '';
      call.end = i;
      return;
    }
    const c = /^(\w+)\((.*)$/.exec(rest);
    if (!c) return;
    const args = c[2]!;
    const path = /^\d+<([^>]*)>/.exec(args)?.[1];
    const call: Syscall = { pid, name: c[1]!, path, data: strings(args), result: '', start: i, end: i };
    if (/<unfinished \.\.\.>$/.test(args)) pending.set(pid, call);
    else call.result = /\)\s*=\s*(.*)$/.exec(args)?.[1] ?? '';
    out.push(call);
  });
  return out;
}

function strings(text: string): string {
  let s = '';
  for (const m of text.matchAll(QUOTED)) s += m[1];
  return s;
}

export const WRITES = new Set(['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'sendto', 'sendmsg']);
export const READS = new Set(['read', 'readv', 'recvfrom', 'recvmsg']);
export const SYNCS = new Set(['fdatasync', 'fsync']);

/**
 * The write that completed `needle` in the stream of writes to files whose
 * path passes `isFile` (per path: a record may split across writes), or
 * undefined.
 */
export function writeCarrying(calls: readonly Syscall[], isFile: (path: string) => boolean, needle: string): Syscall | undefined {
  return carrying(calls, WRITES, isFile, needle);
}

/** Like `writeCarrying`, for the calls named in `kinds` (e.g. READS on sockets: a request split across reads). */
export function carrying(calls: readonly Syscall[], kinds: ReadonlySet<string>, isPath: (path: string) => boolean, needle: string): Syscall | undefined {
  const streams = new Map<string, { text: string; ends: Array<[number, Syscall]> }>();
  for (const c of calls) {
    if (!kinds.has(c.name) || !c.path || !isPath(c.path)) continue;
    const s = streams.get(c.path) ?? { text: '', ends: [] };
    s.text += c.data;
    s.ends.push([s.text.length, c]);
    streams.set(c.path, s);
  }
  let best: Syscall | undefined;
  for (const s of streams.values()) {
    const at = s.text.indexOf(needle);
    if (at < 0) continue;
    const last = at + needle.length;
    const hit = s.ends.find(([end]) => end >= last)?.[1];
    if (hit && (!best || hit.end < best.end)) best = hit;
  }
  return best;
}

/** The first fsync/fdatasync of `path` that started after index `after`. */
export function syncAfter(calls: readonly Syscall[], path: string, after: number): Syscall | undefined {
  return calls.find((c) => SYNCS.has(c.name) && c.path === path && c.start > after && c.result.startsWith('0'));
}

/**
 * The durability rule for one acknowledged record `id`: the write that put it
 * into a write-ahead-log file ended, then an fsync/fdatasync of that file
 * started and ended, then the acknowledgement `answer` started.
 */
export function answeredAfterSync(calls: readonly Syscall[], isWal: (path: string) => boolean, answer: Syscall, id: string): { ok: boolean; detail: string } {
  const write = writeCarrying(calls, isWal, id);
  if (!write) return { ok: false, detail: `no write-ahead-log write carries ${id}` };
  const sync = syncAfter(calls, write.path!, write.end);
  if (!sync) return { ok: false, detail: `no sync of ${write.path} after its write of ${id} (line ${write.end})` };
  if (sync.end >= answer.start) return { ok: false, detail: `answer at line ${answer.start} before ${sync.name} of ${write.path} ended (line ${sync.end})` };
  return { ok: true, detail: `WAL write ended line ${write.end}, ${sync.name} lines ${sync.start}..${sync.end}, answer line ${answer.start}` };
}
