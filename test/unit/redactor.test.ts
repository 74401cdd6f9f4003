// Secret redaction: every form printing produces, in text and in bytes.
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
