/**
 * Small projects written inline by tests: a manifest from a list of triggers, plus files.
 */
import type { DeployResult } from "../../src/deploy/deployer";
import type { TestServer } from "./test-server";

export interface TriggerSpec {
  name: string;
  call?: string;
  is_sync?: boolean;
  is_durable?: boolean;
  timeout?: string;
  event_type?: string;
}

export function manifest(project: string, triggers: TriggerSpec[], extra = ""): string {
  const lines = ["version: v2", "project:", `  name: ${project}`];
  if (extra) lines.push(extra);
  lines.push("  triggers:");
  for (const t of triggers) {
    lines.push(`    - name: ${t.name}`, "      type: webhook");
    if (t.call) lines.push(`      call: ${t.call}`);
    if (t.is_sync !== undefined) lines.push(`      is_sync: ${t.is_sync}`);
    if (t.is_durable !== undefined) lines.push(`      is_durable: ${t.is_durable}`);
    if (t.timeout) lines.push(`      timeout: ${t.timeout}`);
    if (t.event_type) lines.push(`      event_type: ${t.event_type}`);
  }
  return lines.join("\n") + "\n";
}

/** Deploy `program.ts` (plus any other files) with the given triggers; fails the test on error. */
export async function deployProgram(
  t: TestServer,
  project: string,
  program: string,
  triggers: TriggerSpec[],
  files: Record<string, string> = {},
): Promise<DeployResult> {
  const response = await t.deployFiles({
    "autokitteh.yaml": manifest(project, triggers),
    "program.ts": program,
    ...files,
  });
  const body = await response.json();
  if (response.status !== 201)
    throw new Error(`deploy failed: ${response.status} ${JSON.stringify(body)}`);
  return body as DeployResult;
}
