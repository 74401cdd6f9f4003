// One server per data folder: a second one refuses to start before it reads or changes
// anything there, so the first one's running sessions are left alone.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployProgram } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const BIN = fileURLToPath(new URL("../../bin/isohook.js", import.meta.url));
const run = promisify(execFile);

const PROGRAM = `
import { http_outcome, next_event, subscribe } from "autokitteh";

export async function wait() {
  const sub = subscribe("wake");
  const event = await next_event(sub, { timeout: "20s" });
  http_outcome({ body: event === null ? "timeout" : "woken" });
}
`;

let first: TestServer;
beforeAll(async () => {
  first = await startTestServer();
});
afterAll(async () => {
  await first.close();
});

describe("a data folder in use", () => {
  it("makes a second server refuse to start, and leaves the first one's sessions running", async () => {
    const deployed = await deployProgram(first, "locked", PROGRAM, [
      { name: "wait", call: "program.ts:wait", is_sync: true },
      { name: "wake" },
    ]);
    const answer = fetch(first.webhook(deployed, "wait"), { method: "POST" });
    const deadline = Date.now() + 10_000;
    while (
      (first.db().prepare("SELECT count(*) AS n FROM subscriptions").get() as { n: number }).n === 0
    ) {
      if (Date.now() > deadline) throw new Error("the session did not subscribe");
      await new Promise((r) => setTimeout(r, 20));
    }

    // In this process, as a test starts servers...
    await expect(startTestServer({ dataDir: first.dataDir })).rejects.toThrow(
      `another isohook server is using the data folder ${first.dataDir}`,
    );
    // ...and as a user does, with the command, on another port.
    const second = await run(
      process.execPath,
      [BIN, "serve", "--port", "0", "--data", first.dataDir],
      { env: { ...process.env, ISOHOOK_TOKEN: "" } },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(second).toMatchObject({ code: 1 });
    expect((second as { stderr: string }).stderr).toContain(
      "another isohook server is using the data folder",
    );

    await fetch(first.webhook(deployed, "wake"), { method: "POST" });
    const response = await answer;
    expect(await response.text()).toBe("woken");
    const listed = (await (await first.api("GET", "/api/sessions?project=locked")).json()) as {
      sessions: { id: string }[];
    };
    const [session] = listed.sessions;
    const ended = await first.waitForSession(session!.id);
    expect(ended).toMatchObject({ state: "completed", error: null });
    const log = await first.log(session!.id);
    expect(log.filter((entry) => entry.kind === "error")).toEqual([]);
  });

  it("names its lock file when that cannot be a lock", async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "isohook-lock-"));
    try {
      writeFileSync(
        path.join(dataDir, "server.lock"),
        "not a database, not empty either".repeat(40),
      );
      await expect(startTestServer({ dataDir })).rejects.toThrow(
        `the data folder cannot be locked with ${path.join(dataDir, "server.lock")}`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("is free again once its server has stopped", async () => {
    const other = await startTestServer();
    const dataDir = other.dataDir;
    await other.close();
    const again = await startTestServer({ dataDir });
    await again.close();
  });
});
