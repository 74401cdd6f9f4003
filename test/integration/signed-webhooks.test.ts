// The github_webhook and discord_interactions examples, with real signatures.
import { createHmac, webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { EXAMPLES, startTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

describe("github_webhook", () => {
  let url: string;
  beforeAll(async () => {
    url = t.webhook(await t.deployDir(path.join(EXAMPLES, "github_webhook")), "github");
  });
  const post = (body: string, headers: Record<string, string>) =>
    fetch(url, { method: "POST", body, headers });

  it("accepts GitHub's documented example signature", async () => {
    const response = await post("Hello, World!", {
      "X-Hub-Signature-256":
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "X-GitHub-Event": "push",
      "X-GitHub-Delivery": "d-1",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: "push", delivery: "d-1" });
  });

  it("answers a signed ping with a pong", async () => {
    const body = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    const signature = createHmac("sha256", "It's a Secret to Everybody").update(body).digest("hex");
    const response = await post(body, {
      "X-Hub-Signature-256": `sha256=${signature}`,
      "X-GitHub-Event": "ping",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ pong: true });
  });

  it("refuses a missing, wrong or truncated signature with 401", async () => {
    for (const signature of [
      undefined,
      "sha256=" + "0".repeat(64),
      "sha256=757107ea",
      "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    ]) {
      const response = await post(
        "Hello, World!",
        signature === undefined ? {} : { "X-Hub-Signature-256": signature },
      );
      expect(response.status, signature).toBe(401);
      expect(await response.text()).toBe("Invalid signature");
    }
    const tampered = await post("Hello, World?", {
      "X-Hub-Signature-256":
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    });
    expect(tampered.status).toBe(401);
  });

  it("never shows the secret in the log, even where the code reads it", async () => {
    const response = await post("Hello, World!", { "X-Hub-Signature-256": "sha256=00" });
    const id = response.headers.get("isohook-session-id")!;
    await t.waitForSession(id);
    const log = JSON.stringify(await t.log(id));
    expect(log).toContain('"result":"<secret>"');
    expect(log).not.toContain("Secret to Everybody");
  });
});

describe("discord_interactions", () => {
  let url: string;
  let privateKey: webcrypto.CryptoKey;

  beforeAll(async () => {
    const pair = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as {
      publicKey: webcrypto.CryptoKey;
      privateKey: webcrypto.CryptoKey;
    };
    privateKey = pair.privateKey;
    const publicHex = Buffer.from(await webcrypto.subtle.exportKey("raw", pair.publicKey)).toString(
      "hex",
    );
    const dir = path.join(EXAMPLES, "discord_interactions");
    const yaml = readFileSync(path.join(dir, "autokitteh.yaml"), "utf8").replace(
      /value: [0-9a-f]{64}/,
      `value: ${publicHex}`,
    );
    const response = await t.deployFiles({
      "autokitteh.yaml": yaml,
      "program.ts": readFileSync(path.join(dir, "program.ts"), "utf8"),
    });
    expect(response.status).toBe(201);
    url = ((await response.json()) as DeployResult).triggers[0]!.webhook_url;
  });

  async function signed(body: string, timestamp = "1733300000") {
    const signature = Buffer.from(
      await webcrypto.subtle.sign("Ed25519", privateKey, Buffer.from(timestamp + body)),
    ).toString("hex");
    return fetch(url, {
      method: "POST",
      body,
      headers: { "X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp },
    });
  }

  it("answers a signed PING with a PONG", async () => {
    const response = await signed('{"type":1}');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"type":1}');
  });

  it("answers a signed command", async () => {
    const response = await signed(
      JSON.stringify({ type: 2, data: { name: "hello" }, member: { user: { username: "ada" } } }),
    );
    expect(await response.json()).toEqual({ type: 4, data: { content: "Hello, ada! (/hello)" } });
  });

  it("refuses a bad signature, a changed body or timestamp, and no signature with 401", async () => {
    const good = await webcrypto.subtle.sign(
      "Ed25519",
      privateKey,
      Buffer.from('1733300000{"type":1}'),
    );
    const hex = Buffer.from(good).toString("hex");
    const cases: [string, Record<string, string>][] = [
      ['{"type":1}', {}],
      [
        '{"type":1}',
        { "X-Signature-Ed25519": "00".repeat(64), "X-Signature-Timestamp": "1733300000" },
      ],
      ['{"type":2}', { "X-Signature-Ed25519": hex, "X-Signature-Timestamp": "1733300000" }],
      ['{"type":1}', { "X-Signature-Ed25519": hex, "X-Signature-Timestamp": "1733300001" }],
      ['{"type":1}', { "X-Signature-Ed25519": "zz", "X-Signature-Timestamp": "1733300000" }],
    ];
    for (const [body, headers] of cases) {
      const response = await fetch(url, { method: "POST", body, headers });
      expect(response.status, JSON.stringify(headers)).toBe(401);
      expect(await response.text()).toBe("invalid request signature");
    }
  });
});
