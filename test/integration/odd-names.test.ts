// Names that are also Object.prototype's (`__proto__`, `constructor`, ...) stay plain keys on
// every copy between the caller, the server, the sandbox and the log.
import { request } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { DeployResult } from "../../src/deploy/deployer";
import { manifest } from "../helpers/projects";
import { startTestServer, type TestServer } from "../helpers/test-server";

const ODD = ["__proto__", "constructor", "toString", "hasOwnProperty"];

const PROGRAM = `
import { getenv, http_outcome, type Event } from "autokitteh";

const own = (value: object) => ({
  keys: Reflect.ownKeys(value).map(String),
  plain: Object.getPrototypeOf(value) === Object.prototype,
});

export async function names(event: Event) {
  await crypto.subtle.digest(
    { name: "SHA-256", ["__proto__"]: "p", constructor: "c" } as never,
    new Uint8Array(1),
  );
  http_outcome({ json: {
    query: own(event.data.url.query),
    headers: own(event.data.headers),
    form: own(event.data.body.form!),
    query_values: ${JSON.stringify(ODD)}.map((name) => event.data.url.query[name]),
    var_proto: getenv("__proto__") ?? null,
  } });
}
`;

let t: TestServer;
let project: DeployResult;

beforeAll(async () => {
  t = await startTestServer();
  const response = await t.deployFiles({
    "autokitteh.yaml": manifest(
      "odd_names",
      [{ name: "names", call: "program.ts:names", is_sync: true }],
      "  vars:\n    - name: __proto__\n      value: a var",
    ),
    "program.ts": PROGRAM,
  });
  expect(response.status).toBe(201);
  project = (await response.json()) as DeployResult;
});
afterAll(() => t.close());

/** A request as sent, header names and all (fetch would not send every one of these). */
function send(url: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: Record<string, any>; json: any }>(
    (resolve, reject) => {
      const req = request(url, { method: "POST", headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            json: JSON.parse(Buffer.concat(chunks).toString()),
          }),
        );
      });
      req.on("error", reject);
      req.end(body);
    },
  );
}

it("keeps query parameters, headers, form fields and vars named like Object.prototype's", async () => {
  const query = ODD.map((name, i) => `${name}=${i}`).join("&");
  const headers = Object.fromEntries(ODD.map((name) => [name, `h-${name}`]));
  const response = await send(
    `${t.webhook(project, "names")}?${query}&a=x`,
    { ...headers, "content-type": "application/x-www-form-urlencoded" },
    query,
  );
  expect(response.status).toBe(200);
  const seen = response.json;
  expect(seen.query).toEqual({ keys: [...ODD, "a"], plain: true });
  expect(seen.query_values).toEqual(["0", "1", "2", "3"]);
  expect(seen.headers.keys).toEqual(expect.arrayContaining(ODD.map((n) => n.toLowerCase())));
  expect(seen.headers.plain).toBe(true);
  expect(seen.form.keys).toEqual(ODD);
  expect(seen.var_proto).toBe("a var");

  // the stored event, as the API shows it, and the crypto call's argument in the log
  const events = (await (await t.api("GET", "/api/events?project=odd_names&limit=1")).json()) as {
    events: { data: { url: { query: object }; headers: object } }[];
  };
  expect(Object.keys(events.events[0]!.data.url.query)).toEqual([...ODD, "a"]);
  expect(Object.keys(events.events[0]!.data.headers)).toContain("__proto__");
  const log = await t.log(response.headers["isohook-session-id"] as string);
  const digest = log.find((entry) => entry.data.binding === "crypto_digest")!;
  expect(Object.keys(digest.data.args[0])).toEqual(["name", "__proto__", "constructor"]);
});
