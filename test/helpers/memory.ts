// Resident memory of a set of processes (Linux /proc), for tests that bound it.
import { readFileSync } from "node:fs";

const PAGE_BYTES = 4096;

export function rssBytes(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const pages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
      total += pages * PAGE_BYTES;
    } catch {
      // The process is gone; it holds nothing.
    }
  }
  return total;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) a set of processes used so far, in milliseconds (Linux /proc). */
export function cpuMs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      // The process is gone.
    }
  }
  return total;
}
