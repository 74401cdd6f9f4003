/** Process facts from Linux's /proc: children of a process, resident memory, CPU time. */
import { readdirSync, readFileSync } from "node:fs";

const PAGE_BYTES = 4096;
/** Linux's clock ticks per second (`getconf CLK_TCK`), the unit of /proc's CPU times. */
const TICKS_PER_SECOND = 100;

/** Every descendant of `pid`. */
export function childPids(pid: number): number[] {
  let direct: number[];
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
    direct = text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((child) => [child, ...childPids(child)]);
}

/** Resident memory of the processes, in bytes. */
export function rssOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
    } catch {
      // gone
    }
  }
  return total;
}

/** CPU time (user and system) the processes have used so far, in milliseconds. */
export function cpuMsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) total += statCpuMs(`/proc/${pid}/stat`) ?? 0;
  return total;
}

/** CPU time each thread of this process has used so far, in milliseconds, by thread id. */
export function threadCpuMs(): Map<string, number> {
  const times = new Map<string, number>();
  for (const task of readdirSync("/proc/self/task")) {
    const ms = statCpuMs(`/proc/self/task/${task}/stat`);
    if (ms !== null) times.set(task, ms);
  }
  return times;
}

/** User and system time from a `stat` file of /proc, or `null` when it is gone. */
function statCpuMs(file: string): number | null {
  try {
    // Fields after the command name, which may hold spaces: utime and stime are 14 and 15.
    const stat = readFileSync(file, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
  } catch {
    return null;
  }
}
