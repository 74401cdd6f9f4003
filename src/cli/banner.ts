/**
 * What `isohook serve` prints once it is up: where it listens, the new token, and for each
 * deployed project its webhooks with a curl line to paste.
 *
 * The curl lines take their path, body and extra headers from the project's optional
 * `samples.json` (`{ "<trigger>": { "path": "/approve?id=1", "body": {...}, "headers": {...},
 * "note": "..." } }`), which only this banner reads; without one, a POST with a small JSON body.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { DeployError } from "../errors";
import type { RunningServer } from "../server";
import { problemLine, runsLabel, visible } from "./format";

export const SAMPLES_FILE = "samples.json";

interface Sample {
  path?: string;
  body?: unknown;
  /** Names to values; anything else (the file is the user's) is left out. */
  headers?: unknown;
  note?: string;
}

export function banner(server: RunningServer): string {
  const out = ["", `isohook listening on ${server.url}`, `data: ${server.dataDir}`];
  if (server.tokenCreated) {
    out.push(
      `API token (saved in ${path.join(server.dataDir, "token")}, shown once): ${server.token}`,
    );
  }
  for (const { dir, result, error } of server.deployed) {
    out.push("");
    if (error !== undefined) {
      out.push(`could not deploy ${dir}: ${(error as Error).message}`);
      if (error instanceof DeployError) {
        for (const d of error.details) out.push(`  ${problemLine(d)}`);
      }
      continue;
    }
    const samples = readSamples(dir);
    out.push(`${result!.project}${result!.changed ? "" : " (unchanged)"}`);
    for (const t of result!.triggers) {
      const sample = samples[t.name] ?? {};
      out.push(`  ${t.name} (${runsLabel(t)}): ${t.webhook_url}`);
      out.push(`    ${curlLine(t.webhook_url, sample)}`);
      if (sample.note) out.push(`    (${sample.note})`);
    }
  }
  // A project folder may come from anyone: nothing in it reaches the terminal as a control.
  return out.map(visible).join("\n") + "\n";
}

function curlLine(url: string, sample: Sample): string {
  const target = shellQuote(url + (sample.path ?? ""));
  const body = sample.body === undefined ? { name: "Alice" } : sample.body;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const given = sample.headers;
  const entries: [string, unknown][] =
    given !== null && typeof given === "object" && !Array.isArray(given)
      ? Object.entries(given)
      : [];
  const headers: [string, string][] = entries
    .filter(([, value]) => typeof value === "string" || typeof value === "number")
    .map(([name, value]) => [name, String(value)]);
  // A sample's own Content-Type replaces the default one.
  if (!headers.some(([name]) => name.toLowerCase() === "content-type"))
    headers.unshift(["Content-Type", typeof body === "string" ? "text/plain" : "application/json"]);
  // `Name;` is how curl sends a header with an empty value (`Name:` would remove it).
  const flags = headers.map(([name, value]) =>
    shellQuote(value === "" ? `${name};` : `${name}: ${value}`),
  );
  // --data-raw: a body beginning with @ is sent as it is, not read from a file of that name.
  return `curl -i -X POST ${target}${flags.map((f) => ` -H ${f}`).join("")} --data-raw ${shellQuote(text)}`;
}

function readSamples(dir: string): Record<string, Sample> {
  const file = path.join(dir, SAMPLES_FILE);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, Sample>;
  } catch {
    return {};
  }
}

/** Single quotes, as a POSIX shell reads them. */
function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
