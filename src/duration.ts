/** Duration strings, as the manifest and the server's settings write them. */
import ms from "ms";

/** "500ms", "10s", "1m", "2h", "30d": whole milliseconds, at least 1, or `null` when it is not that. */
export function parseDuration(text: string): number | null {
  const value = ms(text as ms.StringValue);
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  const rounded = Math.round(value);
  return rounded >= 1 ? rounded : null;
}
