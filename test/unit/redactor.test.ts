// Secret redaction: every form printing produces, in text and in bytes.
import { inspect as nodeInspect } from "node:util";
import inspect from "object-inspect";
import { describe, expect, it } from "vitest";
import { Redactor } from "../../src/sessions/redactor";

const SECRETS = [
  "hunter2'quote",
  "-----BEGIN KEY-----\nMIIBsecret\n-----END KEY-----",
  "tok/with spaces&=?",
  "plain-token-123",
];
const redactor = new Redactor(SECRETS);

describe("Redactor", () => {
  it.each(SECRETS)(
    "removes %j as it is, JSON-escaped, inspect-escaped and URL-encoded",
    (secret) => {
      const forms = [
        secret,
        JSON.stringify({ secret }),
        JSON.stringify([secret]),
        inspect({ secret }),
        inspect([secret]),
        `https://x.example/?q=${encodeURIComponent(secret)}`,
      ];
      for (const form of forms) {
        const text = `before ${form} after`;
        const clean = redactor.text(text);
        expect(clean, form).toContain("<secret>");
        for (const leak of [
          secret,
          JSON.stringify(secret).slice(1, -1),
          encodeURIComponent(secret),
        ]) {
          expect(clean, form).not.toContain(leak);
        }
      }
    },
  );

  it("removes secrets from binary data", () => {
    const bytes = Buffer.concat([
      Buffer.from([0xff, 0x00]),
      Buffer.from("plain-token-123"),
      Buffer.from([0xfe]),
      Buffer.from("plain-token-123"),
    ]);
    const clean = redactor.bytes(bytes);
    expect(clean.includes(Buffer.from("plain-token-123"))).toBe(false);
    expect(clean.toString("latin1")).toBe("\xff\x00<secret>\xfe<secret>");
  });

  it("leaves text without secrets alone, and does nothing without secrets", () => {
    expect(redactor.text("nothing to see")).toBe("nothing to see");
    expect(new Redactor([""]).text("hunter2")).toBe("hunter2");
  });
});

// What an attacker run found leaking (each secret has quotes, a backslash or `%/:` in it), and
// a secret with both kinds of quotes, which util.inspect shows between backticks.
const TRICKY = [
  'pa"ss\\word-XYZ123',
  "100%/pure:key-ABCDEF",
  "tok_live_0123456789abcdef",
  `don't"\\panic-JKL456`,
];
const tricky = new Redactor(TRICKY);
const bytesOf = (text: string) => [...new TextEncoder().encode(text)];
const json = (value: unknown) => JSON.stringify(value);

/** What is left of `secret` in `text`: its letters and digits survive every escape. */
function leftOf(secret: string, text: string): string[] {
  const runs = secret.match(/[A-Za-z0-9]{4,}/g) ?? [];
  return runs.filter((run) => text.includes(run));
}

describe("Redactor, secrets under two escapes", () => {
  const printers: Record<string, (secret: string) => string> = {
    "console.log of a JSON body": (s) => inspect({ body: json({ pw: s }) }),
    "JSON of JSON": (s) => json(json(s)),
    "JSON of JSON of an object": (s) => json(json({ s })),
    "encodeURI of a URL": (s) => encodeURI("https://x.example/?key=" + s),
    "JSON of encodeURI": (s) => json({ url: encodeURI("https://x.example/" + s) }),
    "URL-encoded JSON": (s) => "https://x.example/?q=" + encodeURIComponent(json({ s })),
    "URL-encoded twice": (s) => encodeURIComponent(encodeURIComponent(s)),
    "URL in a query": (s) =>
      "https://x.example/?next=" + encodeURIComponent(new URL("https://y/?k=" + s).href),
    "form-encoded JSON": (s) => new URLSearchParams({ body: json({ s }) }).toString(),
    "util.inspect of a string with both quotes": (s) => nodeInspect({ s: `it's "${s}"` }),
    "object-inspect, double quotes": (s) => inspect([json(s)], { quoteStyle: "double" }),
    "base64 of a JSON body": (s) => Buffer.from(json({ pw: s })).toString("base64"),
  };

  it.each(Object.entries(printers))("removes secrets from %s", (name, print) => {
    for (const secret of TRICKY) {
      const printed = print(secret);
      const clean = tricky.text(`before ${printed} after`);
      expect(clean, printed).toContain("<secret>");
      // what is left of a base64 text, decoded piece by piece
      const seen = name.startsWith("base64")
        ? clean
            .split(" ")[1]!
            .split("<secret>")
            .map((piece) => atob(piece))
            .join(" ")
        : clean;
      expect(leftOf(secret, seen), seen).toEqual([]);
    }
  });
});

describe("Redactor, secrets cut short", () => {
  const parseError = (text: string) => {
    try {
      JSON.parse(text);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`${text} parsed`);
  };

  it("removes the start V8 shows of a secret that JSON.parse refused", () => {
    const message = parseError("tok_live_0123456789abcdef");
    expect(message).toContain('"tok_live_01"...');
    expect(tricky.text(message)).toBe(`Unexpected token 'o', "<secret>"... is not valid JSON`);
    expect(tricky.text(json({ error: message }))).not.toContain("tok_live");
    expect(tricky.text(json(json({ error: message })))).not.toContain("tok_live");
  });

  it("removes the end V8 shows of a secret before the point JSON.parse stopped at", () => {
    const message = parseError('["tok_live_0123456789abcdef",x]');
    expect(message).toContain('..."89abcdef",x]"');
    expect(tricky.text(message)).toContain('..."<secret>",x]"');
  });

  it("removes the start inspect shows of a long string", () => {
    for (const secret of TRICKY) {
      const long = "x".repeat(30) + secret;
      for (const printed of [
        nodeInspect({ long }, { maxStringLength: 40 }),
        inspect({ long }, { maxStringLength: 40 }),
        inspect({ body: json({ long }) }, { maxStringLength: 50 }),
        long.slice(0, 40) + "…",
      ]) {
        const clean = tricky.text(printed);
        expect(clean, printed).toContain("<secret>");
        expect(clean, printed).not.toContain(secret.slice(0, 6));
      }
    }
  });

  it("removes the start of a secret's base64 cut short", () => {
    const token = Buffer.from("tok_live_0123456789abcdef").toString("base64url");
    const message = parseError(token);
    expect(message).toContain(`"${token.slice(0, 10)}"...`);
    expect(tricky.text(message)).not.toContain(token.slice(0, 10));
  });

  it("leaves ellipses alone after less than eight characters of a secret, or none", () => {
    for (const text of ["Loading... done…", "tok_liv...", `"tok_liv"...`, "key: 100%/pu…"]) {
      expect(tricky.text(text)).toBe(text);
    }
    expect(new Redactor(["short-12"]).text('"short-1"...')).toBe('"short-1"...');
  });
});

describe("Redactor, secrets printed as byte values", () => {
  const secret = "tok_live_0123456789abcdef";
  const bytes = new TextEncoder().encode(secret);
  const wrapped = new TextEncoder().encode(`{"k":"${secret}"}`);

  it.each([
    ["console.log (object-inspect)", inspect(bytes)],
    ["util.inspect, over lines", nodeInspect(bytes)],
    ["String(bytes)", String(bytes)],
    ["JSON of an array", json(Array.from(bytes))],
    ["JSON of the typed array", json(bytes)],
    ["an array, inspected", inspect(Array.from(bytes))],
    ["inside other bytes", nodeInspect(wrapped)],
    ["inside other bytes, joined", [0, 1, 2, ...bytes, 300, 9].join(", ")],
  ])("removes them as %s shows them", (_name, printed) => {
    const clean = tricky.text(printed);
    expect(clean, printed).toContain("<secret>");
    expect(clean.replace(/\s+/g, "")).not.toMatch(/116,(\d+:)?111,(\d+:)?107/);
  });

  it("keeps the values around the secret", () => {
    expect(tricky.text([0, 1, 2, ...bytes, 300, 9].join(", "))).toBe("0, 1, 2, <secret>, 300, 9");
    expect(tricky.text(inspect(bytes) + inspect([1, 2, 3, 4]))).toMatch(
      /\{ 0: <secret> \}\[ 1, 2, 3, 4 \]$/,
    );
  });

  it("removes the start of a secret's bytes that node's inspect cut", () => {
    const long = new TextEncoder().encode("x".repeat(90) + secret);
    const printed = nodeInspect(long);
    expect(printed).toContain("... 15 more items");
    expect(tricky.text(printed).replace(/\s+/g, "")).toMatch(/120,<secret>,\.\.\.15moreitems/);
  });

  it("removes non-ASCII secrets' bytes", () => {
    const redactor = new Redactor(["пароль-секрет"]);
    expect(redactor.text(String(new TextEncoder().encode("пароль-секрет")))).toBe("<secret>");
  });

  it("leaves values alone that only look like a secret's bytes", () => {
    for (const text of [
      bytesOf(secret).join(",").replace("116,", "1116,"),
      bytesOf(secret).slice(0, 3).join(", "),
      "version 116.111.107.95.108",
    ]) {
      expect(tricky.text(text)).toBe(text);
    }
  });
});

describe("Redactor, short secrets", () => {
  it("replaces a short secret as it is, and forms of it of four characters or more", () => {
    const redactor = new Redactor(["a'b", "xy"]);
    expect(redactor.text("a'b a\\'b a%27b 97,39,98 xy 120,121")).toBe(
      "<secret> <secret> <secret> 97,39,98 <secret> 120,121",
    );
  });
});

describe("Redactor, binary data", () => {
  it("replaces the bytes of each form of a secret, not only the secret's own", () => {
    const body = Buffer.concat([Buffer.from([0xff]), Buffer.from(json({ p: TRICKY[0] }))]);
    expect(tricky.bytes(body).toString("latin1")).toBe('\xff{"p":"<secret>"}');
  });
});

// The runtime changes case itself: header names are lower-cased, and so is a URL's host.
describe("Redactor, secrets in another case", () => {
  const secret = "sup3rS3cretValue-XYZ123";
  const redactor = new Redactor([secret]);
  const lower = secret.toLowerCase();

  it.each([
    ["a header name, as the log shows it", json({ headers: [[lower, "1"]] })],
    ["a fetch URL's host", `fetch ${new URL(`https://${secret}.example/x`).href} refused`],
    ["upper case", `key=${secret.toUpperCase()}`],
    ["lower case inside JSON in a query", "/?q=" + encodeURIComponent(json({ h: lower }))],
    ["lower case, inspected", inspect({ headers: { [lower]: "1" } })],
    ["lower case, cut by inspect", nodeInspect("x".repeat(30) + lower, { maxStringLength: 45 })],
  ])("removes it from %s", (_name, printed) => {
    const clean = redactor.text(printed);
    expect(clean, printed).toContain("<secret>");
    expect(clean.toLowerCase(), printed).not.toContain("s3cretvalue");
  });

  it("removes the base64 of its lower and upper case", () => {
    for (const text of [btoa(lower), btoa("user:" + secret.toUpperCase())]) {
      expect(redactor.text(`Basic ${text}`), text).toContain("<secret>");
    }
  });

  it("removes its bytes and its byte list in lower case", () => {
    const bytes = Buffer.from(`{"${lower}":1}`);
    expect(redactor.bytes(bytes).toString()).toBe('{"<secret>":1}');
    expect(redactor.text(String(new TextEncoder().encode(lower)))).toBe("<secret>");
  });

  it("leaves other mixes of case alone", () => {
    expect(redactor.text("Sup3rs3cretvalue-xyz123")).toBe("Sup3rs3cretvalue-xyz123");
  });
});

describe("Redactor, secrets printed as byte values in strings", () => {
  const secret = "tok_live_0123456789abcdef";
  const strings = bytesOf(secret).map(String);

  it.each([
    ["console.log (object-inspect)", inspect(strings)],
    ["util.inspect, over lines", nodeInspect(strings)],
    ["JSON", json(strings)],
    ["an object of them, inspected", nodeInspect({ ...strings })],
    ["an object of them, JSON", json({ ...strings })],
    ["inside other values", inspect(["0", "1", ...strings, "300"])],
  ])("removes them as %s shows them", (_name, printed) => {
    const clean = tricky.text(printed);
    expect(clean, printed).toContain("<secret>");
    expect(clean.replace(/[\s'"]+/g, "")).not.toMatch(/116,(\d+:)?111,(\d+:)?107/);
  });

  it("keeps the values around the secret, and their quotes", () => {
    expect(tricky.text(json(["0", "1", ...strings, "300"]))).toBe('["0","1","<secret>","300"]');
  });

  it("removes the start of a list node's inspect cut", () => {
    const long = [...Array<string>(90).fill("120"), ...strings];
    const printed = nodeInspect(long);
    expect(printed).toContain("... 15 more items");
    expect(tricky.text(printed)).not.toMatch(/'116',\s*'111',\s*'107'/);
  });
});

describe("Redactor, values", () => {
  it("redacts keys as well as strings, and keeps odd keys as own properties", () => {
    const secret = "tok_live_0123456789abcdef";
    const value = JSON.parse(
      `{"${secret}":"1","__proto__":{"h":"${secret.toUpperCase()}"},"constructor":[1]}`,
    ) as object;
    expect(JSON.stringify(tricky.value(value))).toBe(
      '{"<secret>":"1","__proto__":{"h":"<secret>"},"constructor":[1]}',
    );
  });
});
