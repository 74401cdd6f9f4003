/** Process facts from Linux's /proc: children of a process, resident memory, CPU time. */
import { readFileSync } from "node:fs";

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
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name, which may hold spaces: utime and stime are 14 and 15.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return (ticks / TICKS_PER_SECOND) * 1000;
}
