const encoder = new TextEncoder();

/** True when `header` is "sha256=" + the hex HMAC-SHA256 of `body` under `secret`. */
export async function verifySignature(
  secret: string,
  body: Uint8Array,
  header: string,
): Promise<boolean> {
  if (secret === "" || !header.startsWith("sha256=")) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const expected = toHex(await crypto.subtle.sign("HMAC", key, body));
  const given = header.slice("sha256=".length).toLowerCase();
  // Same length first: timingSafeEqual throws on buffers of different sizes.
  return (
    given.length === expected.length &&
    crypto.subtle.timingSafeEqual(encoder.encode(given), encoder.encode(expected))
  );
}

function toHex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}
