// Listing sessions and events page by page: `before` the last one listed gives the next page,
// and the pages together are the whole list, in order, each item once.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
let p: DeployResult;

beforeAll(async () => {
  t = await startTestServer();
  p = await deployProgram(t, "paged", "export function handle() { return 1; }", [
    { name: "api", call: "program.ts:handle", is_sync: true },
  ]);
  await deployProgram(t, "other_paged", "export function handle() { return 1; }", [
    { name: "api", call: "program.ts:handle", is_sync: true },
  ]);
  for (let i = 0; i < 7; i++) await fetch(t.webhook(p, "api"), { method: "POST" });
});
afterAll(() => t.close());

async function ids(kind: "sessions" | "events", query: string): Promise<string[]> {
  const body = (await (await t.api("GET", `/api/${kind}?${query}`)).json()) as Record<
    string,
    { id: string }[]
  >;
  return body[kind]!.map((item) => item.id);
}

async function pages(kind: "sessions" | "events", filter: string): Promise<string[]> {
  const all: string[] = [];
  // Bounded: a `before` that were ignored would serve the first page for ever.
  for (let before = "", count = 0; count < 100; count++) {
    const page = await ids(kind, `${filter}&limit=3${before ? `&before=${before}` : ""}`);
    all.push(...page);
    if (page.length < 3) break;
    before = page[page.length - 1]!;
  }
  return all;
}

it("pages through sessions and events, with or without a project", async () => {
  for (const kind of ["sessions", "events"] as const) {
    for (const filter of ["project=paged", ""]) {
      const whole = await ids(kind, `${filter}&limit=1000`);
      expect(whole.length, `${kind} ${filter}`).toBeGreaterThanOrEqual(7);
      expect(await pages(kind, filter), `${kind} ${filter}`).toEqual(whole);
    }
  }
});

it("refuses to list after an id it does not know", async () => {
  for (const [kind, id] of [
    ["sessions", "ses_nope"],
    ["events", "evt_nope"],
  ] as const) {
    const response = await t.api("GET", `/api/${kind}?before=${id}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: `before: no ${id} to list after` });
  }
});
