/**
 * A user's argument, described for an error message: its kind, and its value when that is
 * short (a string is quoted, so `got the string "soon"` reads as what was passed). A long
 * string is not shown at all rather than cut: the log's secret redaction recognises a whole
 * secret, not a piece of one.
 */
const MAX_SHOWN_CHARS = 40;

export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      return value.length > MAX_SHOWN_CHARS
        ? `a string of ${value.length} characters`
        : `the string ${JSON.stringify(value)}`;
    }
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}
