/**
 * Stacks from the sandbox, mapped from bundle coordinates back to the user's `.ts` lines with
 * the deployment's source map. Frames of the runtime itself are dropped: they are ours, not
 * the user's, and say nothing about their code.
 */
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { RUNTIME_FILENAME } from "./runtime-script";

export const BUNDLE_FILENAME = "bundle.js";

// "    at name (bundle.js:12:5)" or "    at bundle.js:12:5"
const FRAME = /^(\s*at )(?:(.*?) \()?([^()]+?):(\d+):(\d+)(\)?)$/;

export class StackMapper {
  readonly #map: TraceMap;

  constructor(sourceMapJson: string) {
    this.#map = new TraceMap(sourceMapJson);
  }

  /** The stack with bundle frames mapped and runtime frames removed. */
  map(stack: string): string {
    const out: string[] = [];
    for (const line of stack.split("\n")) {
      const frame = FRAME.exec(line);
      if (frame === null) {
        out.push(line);
        continue;
      }
      const [, prefix, name, file, lineText, columnText] = frame;
      if (file === RUNTIME_FILENAME || file === "<isolated-vm>") continue;
      if (file !== BUNDLE_FILENAME) {
        out.push(line);
        continue;
      }
      const position = originalPositionFor(this.#map, {
        line: Number(lineText),
        column: Number(columnText) - 1,
      });
      if (position.source === null) continue;
      const where = `${position.source}:${position.line}:${position.column + 1}`;
      out.push(name ? `${prefix}${name} (${where})` : `${prefix}${where}`);
    }
    return out.join("\n");
  }
}
