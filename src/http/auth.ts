/**
 * The management API's bearer token: `ISOHOOK_TOKEN` when set, else the one saved in the data
 * folder (mode 0600), created at first start.
 */
import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Middleware } from "koa";
import { UnauthorizedError } from "../errors";

export const TOKEN_FILE = "token";

/** The token to use, and whether it was just created (and should be shown once). */
export function loadOrCreateToken(
  dataDir: string,
  fixed: string | null,
): { token: string; created: boolean } {
  if (fixed !== null) return { token: fixed, created: false };
  const file = path.join(dataDir, TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length > 0) return { token, created: false };
  }
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, token + "\n", { mode: 0o600 });
  return { token, created: true };
}

export function requireToken(token: string): Middleware {
  const expected = digest(token);
  return async (ctx, next) => {
    const header = ctx.get("authorization");
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null || !timingSafeEqual(digest(match[1]!), expected)) {
      ctx.set("WWW-Authenticate", 'Bearer realm="isohook"');
      throw new UnauthorizedError();
    }
    await next();
  };
}

/** Equal-length digests, so comparing them takes the same time whatever was sent. */
function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
