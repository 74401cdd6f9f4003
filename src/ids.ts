/**
 * Identifiers. Record ids are a prefix plus a ULID (time-ordered, so ids sort by creation);
 * webhook slugs are 128 random bits in URL-safe base64, unguessable.
 */
import { randomBytes } from "node:crypto";
import { monotonicFactory } from "ulid";
import { randomFloat } from "../sandbox/random-pool";

const ulid = monotonicFactory(randomFloat);

export type IdPrefix = "evt" | "ses" | "dep" | "sub";

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}

export function newSlug(): string {
  return randomBytes(16).toString("base64url");
}
