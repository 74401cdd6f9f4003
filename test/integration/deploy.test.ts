// POST /api/deploy: validation with positions, refusals, and what a failed deploy leaves.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTOKITTEH_EXPORTS } from "../../src/deploy/bundle";
import { manifest, deployProgram } from "../helpers/projects";
import { rawTarGz } from "../helpers/raw-tar";
import { EXAMPLES, startTestServer, type TestServer } from "../helpers/test-server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ limits: { maxUploadBytes: 256 * 1024 } });
});
afterAll(() => t.close());

const GOOD = `import { http_outcome } from "autokitteh";
export function handle() { http_outcome({ body: "v1" }); }
`;
const TRIGGERS = [{ name: "api", call: "program.ts:handle", is_sync: true }];

async function deployError(files: Record<string, string>) {
  const response = await t.deployFiles(files);
  return {
    status: response.status,
    body: (await response.json()) as {
      error: string;
      details: { file: string; line: number; column: number; message: string }[];
    },
  };
}

describe("authentication", () => {
  it("refuses the API without the bearer token, and serves /healthz without it", async () => {
    expect((await fetch(`${t.url}/api/projects`)).status).toBe(401);
    const wrong = await fetch(`${t.url}/api/projects`, {
      headers: { authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    const deploy = await fetch(`${t.url}/api/deploy`, { method: "POST", body: "x" });
    expect(deploy.status).toBe(401);
    expect(await (await fetch(`${t.url}/healthz`)).json()).toEqual({ ok: true });
  });
});

describe("manifest errors name file, line and column", () => {
  it("YAML that does not parse", async () => {
    const { status, body } = await deployError({
      "autokitteh.yaml": "version: v2\nproject:\n  name: [unclosed\n",
      "program.ts": GOOD,
    });
    expect(status).toBe(400);
    expect(body.error).toBe("autokitteh.yaml is not valid");
    expect(body.details[0]).toMatchObject({
      file: "autokitteh.yaml",
      line: expect.any(Number),
      column: expect.any(Number),
    });
  });

  it("an unknown key, at the key", async () => {
    const yaml = manifest("p1", TRIGGERS).replace(
      "      type: webhook",
      "      type: webhook\n      colour: blue",
    );
    const { status, body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(status).toBe(400);
    expect(body.details).toEqual([
      {
        file: "autokitteh.yaml",
        line: 7,
        column: 7,
        message: 'project.triggers.0.colour: Unrecognized key: "colour"',
      },
    ]);
  });

  it("a key that is missing, saying so", async () => {
    const yaml = manifest("p1", TRIGGERS)
      .replace("version: v2\n", "")
      .replace("      type: webhook\n", "");
    const { status, body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(status).toBe(400);
    expect(body.details.map((d) => d.message)).toEqual([
      'version: missing; it must be "v1" or "v2"',
      'project.triggers.0.type: missing; it must be "webhook" (the only type there is)',
    ]);
    const nameless = await deployError({
      "autokitteh.yaml": "version: v2\nproject:\n  triggers: []\n",
      "program.ts": GOOD,
    });
    expect(nameless.body.details.map((d) => d.message)).toEqual(["project.name: missing"]);
  });

  it("a wrong type, at the value", async () => {
    const yaml = manifest("p1", TRIGGERS).replace("is_sync: true", 'is_sync: "yes"');
    const { body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(body.details[0]).toMatchObject({
      line: 8,
      column: 16,
      message: "project.triggers.0.is_sync: must be true or false",
    });
  });

  it("a timeout longer than a timer can hold", async () => {
    const yaml = manifest("p1", [{ ...TRIGGERS[0]!, timeout: "30d" }]);
    const { status, body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(status).toBe(400);
    expect(body.details[0]!.message).toContain("at most about 24 days");
  });

  it("duplicate trigger names", async () => {
    const yaml = manifest("p1", [...TRIGGERS, { name: "api", call: "program.ts:handle" }]);
    const { body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(body.details).toEqual([
      expect.objectContaining({ line: 9, message: 'duplicate trigger name "api"' }),
    ]);
  });

  it("a duplicate name, a missing file and a filter that does not compile, all at once", async () => {
    const yaml =
      manifest("p1", [
        { name: "api", call: "program.ts:handle" },
        { name: "hook", call: "program.ts:handle" },
        { name: "hook", call: "gone.ts:handle" },
      ]) + "      filter: data.method ==\n";
    const { status, body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(status).toBe(400);
    expect(body.details.map((d) => [d.line, d.message])).toEqual([
      [11, 'duplicate trigger name "hook"'],
      [14, expect.stringContaining('trigger "hook": filter "data.method ==" does not compile')],
      [13, 'trigger "hook": call names gone.ts, which is not in the project'],
    ]);
  });

  it("a call naming a missing file, at the call", async () => {
    const yaml = manifest("p1", [{ name: "api", call: "nope.ts:handle" }]);
    const { body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(body.details).toEqual([
      {
        file: "autokitteh.yaml",
        line: 7,
        column: 13,
        message: 'trigger "api": call names nope.ts, which is not in the project',
      },
    ]);
  });

  it("a call naming a missing export, at the call", async () => {
    const yaml = manifest("p1", [{ name: "api", call: "program.ts:missing" }]);
    const { body } = await deployError({ "autokitteh.yaml": yaml, "program.ts": GOOD });
    expect(body.error).toBe("the project's code does not build");
    expect(body.details).toEqual([
      {
        file: "autokitteh.yaml",
        line: 7,
        column: 13,
        message:
          'trigger "api": program.ts has no export named "missing"; its exports are "handle"',
      },
    ]);
  });

  it("a missing export, with the exports the file has, its re-exports included", async () => {
    const yaml = manifest("p1", [{ name: "api", call: "program.ts:handel" }]);
    const { body } = await deployError({
      "autokitteh.yaml": yaml,
      "program.ts": GOOD + 'export * from "./more.ts";\nexport const limit = 3;\n',
      "more.ts": "export function other() {}\n",
    });
    expect(body.details.map((d) => d.message)).toEqual([
      'trigger "api": program.ts has no export named "handel"; its exports are "handle", "limit", "other"',
    ]);
  });

  it("a missing export, with a default export listed, and a long list cut", async () => {
    const name = (i: number) => `e${String(i).padStart(2, "0")}`;
    const many = Array.from({ length: 30 }, (_, i) => `export const ${name(i)} = ${i};`).join("\n");
    const { body } = await deployError({
      "autokitteh.yaml": manifest("p1", [
        { name: "a", call: "one.ts:handle" },
        { name: "b", call: "many.ts:handle" },
      ]),
      "one.ts": "export default function handle() {}\n",
      "many.ts": many,
    });
    expect(body.details.map((d) => d.message)).toEqual([
      'trigger "a": one.ts has no export named "handle"; its exports are "default"',
      `trigger "b": many.ts has no export named "handle"; its exports are ${Array.from({ length: 20 }, (_, i) => `"${name(i)}"`).join(", ")} and 10 more`,
    ]);
  });

  it("no manifest at all", async () => {
    const { status, body } = await deployError({ "program.ts": GOOD });
    expect(status).toBe(400);
    expect(body.error).toBe("the project has no autokitteh.yaml");
  });
});

describe("code errors name file, line and column", () => {
  it("a TypeScript syntax error", async () => {
    const broken = "export function handle() {\n  const x: number = ;\n}\n";
    const { status, body } = await deployError({
      "autokitteh.yaml": manifest("p1", TRIGGERS),
      "program.ts": broken,
    });
    expect(status).toBe(400);
    expect(body.details[0]).toMatchObject({
      file: "program.ts",
      line: 2,
      column: 21,
      message: 'Unexpected ";"',
    });
  });

  it("syntax errors in every broken file, including files a broken file imports", async () => {
    const { status, body } = await deployError({
      "autokitteh.yaml": manifest("p1", TRIGGERS),
      "program.ts":
        'import { helper } from "./lib/helper";\nexport function handle() {\n  const x = ;\n}\n',
      "lib/helper.ts": "export function helper() {\n  return (;\n}\n",
      "lib/fine.ts": "export const fine = 1;\n",
      "data.json": "{ not json",
    });
    expect(status).toBe(400);
    expect(body.details).toMatchObject([
      { file: "program.ts", line: 3, column: 13 },
      { file: "lib/helper.ts", line: 2, column: 11 },
    ]);
  });

  it("an error in an imported file, and imports that leave the project or need packages", async () => {
    const { body } = await deployError({
      "autokitteh.yaml": manifest("p1", TRIGGERS),
      "program.ts":
        'import "./lib/util";\nimport "../outside";\nimport "lodash";\nimport "node:fs";\n' + GOOD,
      "lib/util.ts": "export const a = ;\n",
    });
    const messages = body.details.map((d) => `${d.file}:${d.line} ${d.message}`);
    expect(messages).toContain('lib/util.ts:1 Unexpected ";"');
    expect(messages).toContain(
      'program.ts:2 cannot import "../outside": it is outside the project',
    );
    expect(
      messages.some((m) =>
        m.startsWith('program.ts:3 cannot import "lodash": only relative imports'),
      ),
    ).toBe(true);
    expect(messages).toContain(
      'program.ts:4 cannot import "node:fs": Node\'s modules are not available in the sandbox',
    );
  });
});

/** The rest of each refusal's message after its first words. */
function tail(expected: string): string {
  if (expected.startsWith('".."') || expected.startsWith("absolute"))
    return "; paths must stay inside the project";
  return " in a project";
}

describe("the autokitteh module", () => {
  it("lists every name the runtime's module has, so that none fails a deploy", async () => {
    const program = `import autokitteh from "autokitteh";
export function names() { return Object.keys(autokitteh).sort(); }`;
    const d = await deployProgram(t, "module_names", program, [
      { name: "names", call: "program.ts:names", is_sync: true },
    ]);
    const names = await (await fetch(t.webhook(d, "names"), { method: "POST" })).json();
    expect(names).toEqual([...AUTOKITTEH_EXPORTS].sort());
  });
});

describe("uploads", () => {
  const upload = (body: Buffer, type = "application/gzip") =>
    t.api("POST", "/api/deploy", body, { "content-type": type });

  it("refuses paths that leave the project, absolute paths and links", async () => {
    const files = [
      { name: "autokitteh.yaml", data: manifest("p1", TRIGGERS) },
      { name: "program.ts", data: GOOD },
    ];
    for (const [bad, expected] of [
      [{ name: "../evil.ts", data: "x" }, '".." is not allowed'],
      [{ name: "lib/../../evil.ts", data: "x" }, '".." is not allowed'],
      [{ name: "/etc/evil.ts", data: "x" }, "absolute paths are not allowed"],
      [
        { name: "link.ts", type: "2" as const, linkname: "/etc/passwd" },
        "symbolic links are not allowed",
      ],
      [
        { name: "hard.ts", type: "1" as const, linkname: "program.ts" },
        "hard links are not allowed",
      ],
    ] as const) {
      const response = await upload(rawTarGz([...files, bad]));
      expect(response.status, bad.name).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe(
        `${bad.name}: ${expected}` + tail(expected),
      );
    }
    expect((await t.api("GET", "/api/projects/p1")).status).toBe(404);
  });

  it("reads a project packed inside its folder", async () => {
    const response = await upload(
      rawTarGz([
        { name: "my_project/autokitteh.yaml", data: manifest("packed", TRIGGERS) },
        { name: "my_project/program.ts", data: GOOD },
      ]),
    );
    expect(response.status).toBe(201);
  });

  it("413 for an upload over the limit, 400 for a body that is not an archive", async () => {
    const big = await upload(Buffer.alloc(300 * 1024, 7));
    expect(big.status).toBe(413);
    const junk = await upload(Buffer.from("this is not a tarball at all"));
    expect(junk.status).toBe(400);
    const json = await upload(Buffer.from("{}"), "application/json");
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toContain("send a .tar.gz");
  });

  it("refuses an archive that unpacks past the limit (a tar bomb)", async () => {
    const response = await upload(
      rawTarGz([
        { name: "autokitteh.yaml", data: manifest("p1", TRIGGERS) },
        { name: "big.txt", data: "a".repeat(600 * 1024) },
      ]),
    );
    expect(response.status).toBe(413);
  });
});

describe("redeploys", () => {
  it("keep the slug, serve the new code, let running sessions finish on the old, and survive a failed deploy", async () => {
    const slow = `import { http_outcome } from "autokitteh";
export async function handle() { await new Promise((r) => setTimeout(r, 300)); http_outcome({ body: "v1" }); }
`;
    const first = await deployProgram(t, "redeployed", slow, TRIGGERS);
    const url = t.webhook(first, "api");
    const onOldCode = fetch(url, { method: "POST" });
    await new Promise((r) => setTimeout(r, 50));

    const v2 = GOOD.replace('"v1"', '"v2"');
    const second = await deployProgram(t, "redeployed", v2, TRIGGERS);
    expect(second.deployment_id).not.toBe(first.deployment_id);
    expect(t.webhook(second, "api")).toBe(url);
    expect(await (await fetch(url, { method: "POST" })).text()).toBe("v2");
    expect(await (await onOldCode).text()).toBe("v1");

    const broken = await deployError({
      "autokitteh.yaml": manifest("redeployed", TRIGGERS),
      "program.ts": "export function handle( {",
    });
    expect(broken.status).toBe(400);
    expect(await (await fetch(url, { method: "POST" })).text()).toBe("v2");
    const project = (await (await t.api("GET", "/api/projects/redeployed")).json()) as {
      active_deployment_id: string;
      deployments: unknown[];
    };
    expect(project.active_deployment_id).toBe(second.deployment_id);
    expect(project.deployments).toHaveLength(2);
  });
});

describe("project listings", () => {
  it("show each trigger as the manifest set it", async () => {
    const triggers = [
      { name: "api", call: "program.ts:handle", is_sync: true, timeout: "45s", event_type: "post" },
      { name: "feed" },
    ];
    const deployed = await deployProgram(t, "described", GOOD, triggers);
    expect(deployed.triggers).toMatchObject([
      { name: "api", call: "program.ts:handle", is_sync: true },
      { name: "feed", call: null, is_sync: false },
    ]);
    const project = (await (await t.api("GET", "/api/projects/described")).json()) as {
      triggers: unknown[];
    };
    expect(project.triggers).toMatchObject([
      { name: "api", call: "program.ts:handle", timeout_ms: 45_000, event_type: ["post"] },
      { name: "feed", call: null, timeout_ms: null, event_type: [], filter: null },
    ]);
  });

  it("warn of what a trigger without a call cannot use, and of a sync durable one", async () => {
    const deployed = await deployProgram(t, "warned", GOOD, [
      { name: "api", call: "program.ts:handle", is_sync: true, is_durable: true },
      { name: "feed", event_type: "post", timeout: "5s" },
      { name: "plain" },
    ]);
    expect(deployed.warnings).toEqual([
      expect.stringMatching(/^trigger api is sync and durable: /),
      "trigger feed has no call, so its event_type, timeout have no effect: every request to it reaches its subscribers, who choose theirs with subscribe(source, filter)",
    ]);
  });

  it("never show secret values", async () => {
    const files = {
      "autokitteh.yaml": manifest(
        "secretive",
        TRIGGERS,
        "  vars:\n    - name: TOKEN\n      value: hunter2\n      secret: true\n    - name: REGION\n      value: eu",
      ),
      "program.ts": GOOD,
    };
    expect((await t.deployFiles(files)).status).toBe(201);
    const text = await (await t.api("GET", "/api/projects/secretive")).text();
    expect(text).not.toContain("hunter2");
    expect(JSON.parse(text).vars).toEqual([
      { name: "TOKEN", value: "<secret>", secret: true },
      { name: "REGION", value: "eu", secret: false },
    ]);
    expect(await (await t.api("GET", "/api/projects")).text()).not.toContain("hunter2");
  });
});

describe("hostile uploads", () => {
  it("survives code that crashes esbuild: 400 for it, and the next deploy works", async () => {
    const roomy = await startTestServer();
    try {
      const nested =
        "export function handle() { return " +
        "(".repeat(4_000_000) +
        "1" +
        ")".repeat(4_000_000) +
        "; }\n";
      const crashed = await roomy.deployFiles({
        "autokitteh.yaml": manifest("nested", TRIGGERS),
        "program.ts": nested,
      });
      expect(crashed.status).toBe(400);
      const body = (await crashed.json()) as { details: { message: string }[] };
      expect(body.details[0]!.message).toMatch(/esbuild crashed/);
      const fine = await roomy.deployFiles({
        "autokitteh.yaml": manifest("after_crash", TRIGGERS),
        "program.ts": GOOD,
      });
      expect(fine.status).toBe(201);
    } finally {
      await roomy.close();
    }
  });

  it("refuses a YAML alias bomb with 400", async () => {
    const aliases = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++)
      aliases.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill("*" + String.fromCharCode(96 + i))
          .join(", ")}]`,
      );
    const yaml = manifest("bomb", TRIGGERS) + aliases.map((l) => "# " + l).join("\n") + "\n";
    const bomb = `${aliases.join("\n")}\n${yaml}`;
    const { status, body } = await deployError({ "autokitteh.yaml": bomb, "program.ts": GOOD });
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toMatch(/alias|Unrecognized key/i);
  });

  it("refuses a manifest nested too deeply, at the level past the bound, before parsing it", async () => {
    const levels = 40_000;
    for (const [vars, line, column] of [
      [`  vars: ${"[".repeat(levels)}${"]".repeat(levels)}`, 4, 71],
      [`  vars:\n    ${"- ".repeat(levels)}x`, 5, 129],
      [`  vars: ${"{a: ".repeat(levels)}1${"}".repeat(levels)}`, 4, 8 + 4 * 62 + 1],
    ] as const) {
      const started = Date.now();
      const { status, body } = await deployError({
        "autokitteh.yaml": manifest("deep", TRIGGERS, vars),
        "program.ts": GOOD,
      });
      expect(status).toBe(400);
      expect(body.details).toEqual([
        { file: "autokitteh.yaml", line, column, message: "nested deeper than 64 levels" },
      ]);
      // it used to hold the server's main thread for seconds, then overflow the stack
      expect(Date.now() - started).toBeLessThan(1000);
    }

    // within the bound, the manifest is read, and refused for what it holds
    const { body } = await deployError({
      "autokitteh.yaml": manifest("deep", TRIGGERS, `  vars: ${"[".repeat(60)}${"]".repeat(60)}`),
      "program.ts": GOOD,
    });
    expect(body.details[0]!.message).toMatch(/^project\.vars\.0: /);
  });

  it("stops unpacking a tar bomb at the limit instead of inflating all of it", async () => {
    const { gzipSync } = await import("node:zlib");
    const zeros = gzipSync(Buffer.alloc(200 * 1024 * 1024), { level: 9 });
    expect(zeros.length).toBeLessThan(256 * 1024);
    const started = Date.now();
    const response = await t.api("POST", "/api/deploy", zeros, {
      "content-type": "application/gzip",
    });
    expect(response.status).toBe(413);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("tsconfig.json", () => {
  it("passes on options that change the output, and refuses those that read the disk", async () => {
    const decorated = `function log(_: unknown, _context: unknown) {}\nclass A { @log m() {} }\nexport function handle() { void A; }\n`;
    const ok = await t.deployFiles({
      "autokitteh.yaml": manifest("tsconfig_ok", TRIGGERS),
      "program.ts": decorated,
      "tsconfig.json":
        '{ // comments are fine\n "compilerOptions": { "experimentalDecorators": false, "target": "ES2022" } }',
    });
    expect(ok.status).toBe(201);
    // The examples' tsconfig.json (type-checking options such as "types" and "lib") deploys.
    const examplesTsconfig = await readFile(path.join(EXAMPLES, "tsconfig.json"), "utf8");
    const typeChecking = await t.deployFiles({
      "autokitteh.yaml": manifest("tsconfig_types", TRIGGERS),
      "program.ts": GOOD,
      "tsconfig.json": examplesTsconfig,
    });
    expect(typeChecking.status, await typeChecking.text()).toBe(201);

    for (const [tsconfig, message, line, column] of [
      ['{ "extends": "/dev/zero" }', '"extends" is not supported', 1, 3],
      [
        '{\n "compilerOptions": {\n   "paths": { "x": ["/etc/passwd"] } } }',
        '"paths" is not supported',
        3,
        4,
      ],
      ['{ "compilerOptions": { "baseUrl": "/" } }', '"baseUrl" is not supported', 1, 24],
      [
        '{ "compilerOptions": { "target": "es2022" }, "compilerOptions": { "baseUrl": "/" } }',
        '"baseUrl" is not supported',
        1,
        67,
      ],
      ['{ "compilerOptions": 3 }', '"compilerOptions" must be an object', 1, 22],
      ["[]", "must hold an object", 1, 1],
      ["", "not valid JSON", 1, 1],
      [
        `{ "compilerOptions": ${"[".repeat(100_000)}${"]".repeat(100_000)} }`,
        "nested deeper than 64 levels",
        1,
        22 + 63,
      ],
      [
        '{\n  "compilerOptions": {\n    "target": "es2022",,\n  }\n}',
        "not valid JSON: property name expected",
        3,
        24,
      ],
    ] as const) {
      const { status, body } = await deployError({
        "autokitteh.yaml": manifest("tsconfig_bad", TRIGGERS),
        "program.ts": GOOD,
        "tsconfig.json": tsconfig,
      });
      const label = tsconfig.slice(0, 100);
      expect(status, label).toBe(400);
      expect(body.details[0], label).toMatchObject({ file: "tsconfig.json", line, column });
      expect(body.details[0]!.message, label).toContain(message);
    }
  });
});
