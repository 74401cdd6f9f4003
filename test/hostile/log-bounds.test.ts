// A session cannot write a large row into the session log: every kind of entry, given huge
// arguments, stays within 64 KiB, redacted first and cut after.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { MAX_LOG_ENTRY_BYTES } from "../../src/sessions/log-entry";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const SECRET = "top-secret-token-42";

const PROGRAM = `
import { getenv, http_outcome, next_event, subscribe, unsubscribe } from "autokitteh";

const attempt = async (what: () => unknown) => {
  try { await what(); } catch (error) { console.log((error as Error).name + ": " + (error as Error).message); }
};

export async function every_kind() {
  const secret = getenv("TOKEN")!;
  getenv("BIG");
  console.log(secret + "P".repeat(400_000));
  console.log("\\u5b57".repeat(300_000));
  console.log(String.fromCharCode(34, 92).repeat(100_000));

  const headers: [string, string][] = Array.from({ length: 900 }, (_, i) => ["x-h-" + i, "v".repeat(60)]);
  http_outcome({ headers, body: new Uint8Array(2_000_000).fill(255), more: true });
  await attempt(() => http_outcome({ headers: Array.from({ length: 20_000 }, (_, i) => ["x-" + i, "v"]), more: true }));
  await attempt(() => http_outcome({ headers: { "x-big": "b".repeat(3_000_000) } }));

  const data = new Uint8Array(8);
  await crypto.subtle.digest({ name: "SHA-256", junk: secret + "J".repeat(5_000_000) } as never, data);
  await attempt(() => crypto.subtle.importKey("jwk", { kty: "oct", k: "AAAA", junk: "K".repeat(3_000_000), ["k".repeat(100_000)]: 1 } as never, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
  await attempt(() => fetch("https://example.com/" + "u".repeat(300_000)));
  await attempt(() => fetch("https://" + "h".repeat(100_000) + ".example/"));

  const sub = subscribe("other");
  await attempt(() => next_event(Array.from({ length: 100 }, (_, i) => "s".repeat(250) + i)));
  await next_event(sub, { timeout: 1 });
  unsubscribe("u".repeat(256));
  clearTimeout(setTimeout(() => {}, 1));

  http_outcome({ headers: [...headers.slice(0, 100), ["content-length", "1"]], body: "Y".repeat(2_000_000) });
  throw new Error(secret + "E".repeat(5_000_000));
}

export function returns_many_headers() {
  return new Response("x", { headers: Array.from({ length: 20_000 }, (_, i) => ["x-" + i, "v"]) as never });
}
`;

let t: TestServer;
let p: DeployResult;

beforeAll(async () => {
  t = await startTestServer();
  const vars = [
    "  vars:",
    "    - name: TOKEN",
    `      value: ${SECRET}`,
    "      secret: true",
    "    - name: BIG",
    `      value: ${"V".repeat(200_000)}`,
  ].join("\n");
  const response = await t.deployFiles({
    "autokitteh.yaml": manifest(
      "log_bounds",
      [
        { name: "every_kind", call: "program.ts:every_kind", is_sync: true },
        { name: "returns_many_headers", call: "program.ts:returns_many_headers", is_sync: true },
        { name: "other" },
      ],
      vars,
    ),
    "program.ts": PROGRAM,
  });
  const body = await response.text();
  expect(response.status, body.slice(0, 2000)).toBe(201);
  p = JSON.parse(body) as DeployResult;
});
afterAll(() => t.close());

interface Row {
  kind: string;
  bytes: number;
  data: string;
}

it("keeps every kind of log entry within 64 KiB, redacted and cut", async () => {
  const response = await fetch(t.webhook(p, "every_kind"), { method: "POST" });
  const id = response.headers.get("isohook-session-id")!;
  expect(response.status).toBe(200);
  expect((await response.text()).length).toBe(2_000_000);
  expect(await t.waitForSession(id)).toMatchObject({ state: "error" });

  const rows = t
    .db()
    .prepare<[string], Row>(
      "SELECT kind, length(CAST(data AS BLOB)) AS bytes, data FROM session_log WHERE session_id = ?",
    )
    .all(id);
  expect(new Set(rows.map((row) => row.kind))).toEqual(
    new Set(["state", "print", "outcome", "call", "error", "note"]),
  );
  for (const row of rows) {
    expect(row.bytes, `a ${row.kind} entry`).toBeLessThanOrEqual(MAX_LOG_ENTRY_BYTES);
    expect(row.data).not.toContain(SECRET);
  }
  const entries = rows.map((row) => ({ kind: row.kind, data: JSON.parse(row.data) as any }));

  // What was cut says so; secrets were redacted before the cut.
  const prints = entries.filter((e) => e.kind === "print").map((e) => e.data.text as string);
  expect(prints[0]).toMatch(/^<secret>P+… \(cut\)$/);
  expect(prints).toContain(
    "TypeError: http_outcome: at most 1000 headers, with at most 65536 characters of names and values in all",
  );
  const [intermediate, sent] = entries.filter((e) => e.kind === "outcome").map((e) => e.data);
  expect(intermediate).toMatchObject({
    disposition: "intermediate",
    body_encoding: "base64",
  });
  expect(intermediate.headers_cut).toBeGreaterThan(0);
  expect(sent).toMatchObject({ disposition: "sent", body_bytes: 2_000_000, body_truncated: true });
  const digest = entries.find((e) => e.kind === "call" && e.data.binding === "crypto_digest")!;
  expect(digest.data.args[0].junk).toMatch(/^<secret>J+… \(cut\)$/);
  const error = entries.find((e) => e.kind === "error")!.data;
  expect(error.message).toMatch(/^<secret>E+… \(cut\)$/);

  // And nothing in the whole table is larger.
  const largest = t
    .db()
    .prepare<[], { bytes: number }>(
      "SELECT max(length(CAST(data AS BLOB))) AS bytes FROM session_log",
    )
    .get()!;
  expect(largest.bytes).toBeLessThanOrEqual(MAX_LOG_ENTRY_BYTES);
});

it("refuses a returned Response with more headers than an outcome may have", async () => {
  const response = await fetch(t.webhook(p, "returns_many_headers"), { method: "POST" });
  expect(response.status).toBe(502);
  const session = await t.waitForSession(response.headers.get("isohook-session-id")!);
  expect(session).toMatchObject({
    state: "error",
    error:
      "TypeError: the handler returned a Response: at most 1000 headers, with at most 65536 characters of names and values in all",
  });
});
