/** `bytes` as text when they are valid UTF-8, else `null` (never a lossy decoding). */
export function strictUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
