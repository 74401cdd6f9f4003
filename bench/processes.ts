/** Process facts from Linux's /proc: children of a process, and resident memory. */
import { readFileSync } from "node:fs";

const PAGE_BYTES = 4096;

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
