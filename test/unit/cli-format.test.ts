// CLI output: readable, and never passing a terminal control sequence through.
import { describe, expect, it } from "vitest";
import { logLine, problemLine, runsLabel, table, visible } from "../../src/cli/format";

const HOSTILE =
  "\x1b[2J\x1b]0;pwned-title\x07\rOVERWRITTEN\n2026-01-01T00:00:00.000Z  state    completed";

describe("CLI output", () => {
  it("shows bidirectional overrides and line separators as escapes", () => {
    expect(visible("a\u202eb\u2066c\u2028d")).toBe("a\\u202eb\\u2066c\\u2028d");
  });

  it("shows control characters as escapes", () => {
    expect(visible("a\x1b[2Jb\nc\x9b")).toBe("a\\x1b[2Jb\\x0ac\\x9b");
  });

  it("keeps a printed line on one line, with no escape left in it", () => {
    const line = logLine({
      seq: 1,
      time: "2026-12-04T00:00:00.000Z",
      kind: "print",
      data: { level: "log", text: HOSTILE },
    });
    expect(line.split("\n")).toHaveLength(1);
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it("keeps table cells clean", () => {
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(table(["id"], [[HOSTILE]])).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});

describe("how a trigger runs", () => {
  it("says sync or async, durable when it is, and events for subscribers without a call", () => {
    const call = "program.ts:main";
    expect(runsLabel({ call, is_sync: true, is_durable: false })).toBe("sync");
    expect(runsLabel({ call, is_sync: false, is_durable: true })).toBe("async, durable");
    expect(runsLabel({ call, is_sync: true, is_durable: true })).toBe("sync, durable");
    expect(runsLabel({ call: null, is_sync: false, is_durable: false })).toBe(
      "events for subscribers",
    );
  });
});

describe("deploy problems", () => {
  it("print as file:line:column with only the parts that are known", () => {
    const problem = { file: "a.ts", line: 3, column: 7, message: "boom" };
    expect(problemLine(problem)).toBe("a.ts:3:7 boom");
    expect(problemLine({ ...problem, column: null })).toBe("a.ts:3 boom");
    expect(problemLine({ ...problem, line: null, column: null })).toBe("a.ts boom");
    expect(problemLine({ file: null, line: null, column: null, message: "boom" })).toBe("boom");
    expect(problemLine({ ...problem, file: "\x1b[2Jx.ts" })).toBe("\\x1b[2Jx.ts:3:7 boom");
  });
});

describe("the start banner", () => {
  /** The banner of a server with one project deployed from a folder holding `samples`. */
  async function bannerFor(samples: unknown): Promise<string> {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { banner } = await import("../../src/cli/banner");
    const dir = mkdtempSync(path.join(os.tmpdir(), "isohook-banner-"));
    try {
      writeFileSync(path.join(dir, "samples.json"), JSON.stringify(samples));
      return banner({
        url: "http://127.0.0.1:1",
        dataDir: dir,
        token: "t",
        tokenCreated: false,
        deployed: [
          {
            dir,
            result: {
              project: "p",
              deployment_id: "dep_1",
              changed: true,
              warnings: [],
              triggers: [
                {
                  name: "api",
                  call: "program.ts:handle",
                  is_sync: true,
                  is_durable: false,
                  webhook_url: "http://127.0.0.1:1/webhooks/abc",
                },
              ],
            },
          },
        ],
      } as unknown as Parameters<typeof banner>[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("shows control characters from a project folder as escapes", async () => {
    const text = await bannerFor({
      api: { path: "/x\x1b[2K\r", note: "\x1b]0;title\x07hidden\u202e" },
    });
    for (const hidden of ["\x1b", "\x07", "\r", "\u202e"]) expect(text).not.toContain(hidden);
    expect(text).toContain("\\x1b[2K\\x0d");
  });

  it("puts a sample's headers on its curl line, quoted for the shell", async () => {
    const text = await bannerFor({
      api: { body: "hi", headers: { "X-Event": "ping", "X-Note": "it's", "X-Empty": "" } },
    });
    expect(text).toContain(
      "curl -i -X POST http://127.0.0.1:1/webhooks/abc -H 'Content-Type: text/plain' " +
        "-H 'X-Event: ping' -H 'X-Note: it'\\''s' -H 'X-Empty;' --data-raw hi",
    );
  });

  it("lets a sample's Content-Type replace the default, skips odd header values, and sends @ as is", async () => {
    const text = await bannerFor({
      api: {
        body: "@/etc/hostname",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          X: { a: 1 },
          Y: 2,
          "Content-Type": "text/csv",
        },
      },
    });
    expect(text).toContain(
      "curl -i -X POST http://127.0.0.1:1/webhooks/abc " +
        "-H 'content-type: application/x-www-form-urlencoded' -H 'Y: 2' -H 'Content-Type: text/csv' " +
        "--data-raw @/etc/hostname",
    );
    expect(await bannerFor({ api: { headers: ["X: 1"] } })).toContain(
      "-H 'Content-Type: application/json' --data-raw '{\"name\":\"Alice\"}'",
    );
  });
});
