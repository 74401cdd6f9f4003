/**
 * How deeply a deploy's YAML or JSON nests, found before it is parsed. The parsers that build
 * values (yaml's composer, zod, jsonc-parser's tree) recurse once a level: a file nested
 * thousands of levels deep runs them out of stack after holding the server's main thread for
 * seconds. The tokenizers here do not recurse, and stop at the first level past the bound, so
 * a file that is too deep costs almost nothing.
 */
import { createScanner } from "jsonc-parser";
import { CST, Lexer } from "yaml";

/** A block collection open at a point of a YAML text: where its items start, and its kind. */
interface BlockLevel {
  column: number;
  kind: "seq" | "map";
}

/** Tokens the YAML lexer makes up to mark what follows, which take no room in the text. */
const MARKERS = new Set(["doc-mode", "flow-error-end", "scalar"]);
/** Tokens that may start a block mapping's key. */
const KEY_STARTS = new Set([
  null,
  "single-quoted-scalar",
  "double-quoted-scalar",
  "alias",
  "anchor",
  "tag",
  "flow-map-start",
  "flow-seq-start",
]);

/**
 * The offset in `text`, read as YAML, of the first collection nested deeper than `max`; -1 if
 * none is. Flow collections (`[`, `{`) are counted as they open and close; block collections
 * by where their items start: one inside another starts further right, but for a sequence
 * that is a mapping's value, which may start at its key's column.
 */
export function yamlTooDeepAt(text: string, max: number): number {
  const block: BlockLevel[] = [];
  let flow = 0;
  let offset = 0;
  let lineStart = 0;
  /** Where what may be a mapping's key starts on this line, or -1. */
  let keyColumn = -1;

  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (MARKERS.has(type as string)) continue;
    const at = offset;
    const column = at - lineStart;
    offset += token.length;
    const newline = token.lastIndexOf("\n");
    if (newline !== -1) lineStart = at + newline + 1;

    if (type === "flow-seq-start" || type === "flow-map-start") {
      if (flow === 0 && keyColumn === -1) keyColumn = column;
      flow += 1;
      if (flow + block.length > max) return at;
    } else if (type === "flow-seq-end" || type === "flow-map-end") {
      flow = Math.max(0, flow - 1);
    } else if (flow > 0) {
      continue;
    } else if (type === "doc-start") {
      block.length = 0;
      keyColumn = -1;
    } else if (type === "newline" || newline !== -1) {
      keyColumn = -1;
    } else if (type === "seq-item-ind" || type === "explicit-key-ind" || type === "map-value-ind") {
      const levelColumn = type === "map-value-ind" && keyColumn !== -1 ? keyColumn : column;
      enter(block, levelColumn, type === "seq-item-ind" ? "seq" : "map");
      if (flow + block.length > max) return at;
      keyColumn = -1;
    } else if (keyColumn === -1 && KEY_STARTS.has(type)) {
      keyColumn = column;
    }
  }
  return -1;
}

/**
 * The offset in `text`, read as JSON with comments, of the first `{` or `[` nested deeper
 * than `max`; -1 if none is. Brackets inside strings and comments are not counted.
 */
export function jsonTooDeepAt(text: string, max: number): number {
  const scanner = createScanner(text, true);
  let depth = 0;
  while (scanner.getPosition() < text.length) {
    scanner.scan();
    if (scanner.getTokenLength() !== 1) continue;
    const at = scanner.getTokenOffset();
    const char = text[at];
    if (char === "{" || char === "[") {
      depth += 1;
      if (depth > max) return at;
    } else if (char === "}" || char === "]") {
      depth = Math.max(0, depth - 1);
    }
  }
  return -1;
}

/** An item of a block collection at `column` of kind `kind`: the levels open after it. */
function enter(block: BlockLevel[], column: number, kind: BlockLevel["kind"]): void {
  while (block.length > 0 && block.at(-1)!.column > column) block.pop();
  // a key at a sequence's column ends the sequence (it was that key's value)
  if (kind === "map" && block.at(-1)?.column === column && block.at(-1)!.kind === "seq") {
    block.pop();
  }
  const top = block.at(-1);
  if (top?.column !== column || top.kind !== kind) block.push({ column, kind });
}

/** The 1-based line and column of `offset` in `text`, to point at what is too deep. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}
