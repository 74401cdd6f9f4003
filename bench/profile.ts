/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`): self time per function, across every
 * profile in a folder (the server's and each sandbox process's).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function summarizeProfiles(dir: string, top: number): string {
  const selfMicros = new Map<string, number>();
  let totalMicros = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), "utf8")) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const node = byId.get(id)!;
      const delta = profile.timeDeltas[i] ?? 0;
      const key = label(node);
      if (key === "(idle)" || key === "(program)") return;
      selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta);
      totalMicros += delta;
    });
  }
  return [...selfMicros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => `  ${((100 * micros) / totalMicros).toFixed(1).padStart(5)}%  ${name}`)
    .join("\n");
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where =
    url === ""
      ? ""
      : ` ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(dist|src)\//, "$1/")}:${lineNumber + 1}`;
  return `${functionName || "(anonymous)"}${where}`;
}
