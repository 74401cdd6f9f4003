/**
 * A project's `tsconfig.json`, reduced to the compiler options that change how esbuild turns
 * TypeScript into JavaScript. Everything that would make esbuild look at the disk (`extends`,
 * `paths`, `baseUrl`, a JSX import source) is refused: the file comes from whoever deploys,
 * and the disk is the server's.
 */
import {
  getNodeValue,
  parseTree,
  printParseErrorCode,
  type Node,
  type ParseError,
} from "jsonc-parser";
import type { TsconfigRaw } from "esbuild";
import { jsonTooDeepAt, lineAndColumn } from "./nesting-depth";

export const TSCONFIG_FILE = "tsconfig.json";

/** Options passed on, as they are. */
const KEPT = [
  "experimentalDecorators",
  "useDefineForClassFields",
  "jsx",
  "jsxFactory",
  "jsxFragmentFactory",
  "verbatimModuleSyntax",
  "preserveValueImports",
  "importsNotUsedAsValues",
  "alwaysStrict",
  "target",
] as const;
/**
 * Options that would make esbuild resolve imports or JSX from the disk. (Type-checking options
 * such as `types`, `lib` or `strict` do not change esbuild's output and are ignored.)
 */
const REFUSED = ["paths", "baseUrl", "jsxImportSource", "rootDirs"] as const;
/** Far more than a tsconfig needs; jsonc-parser's tree recurses once a level. */
const MAX_TSCONFIG_DEPTH = 64;

/** A tsconfig.json the server will not use, with where in the file the fault is (1-based). */
export class TsconfigError extends Error {
  constructor(
    message: string,
    readonly line: number | null = null,
    readonly column: number | null = null,
  ) {
    super(message);
  }

  static at(text: string, offset: number, message: string): TsconfigError {
    const { line, column } = lineAndColumn(text, offset);
    return new TsconfigError(message, line, column);
  }
}

export function safeTsconfig(text: string): TsconfigRaw {
  const tooDeep = jsonTooDeepAt(text, MAX_TSCONFIG_DEPTH);
  if (tooDeep !== -1) {
    throw TsconfigError.at(text, tooDeep, `nested deeper than ${MAX_TSCONFIG_DEPTH} levels`);
  }
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true });
  if (errors.length > 0 || root === undefined) {
    const error = errors[0];
    // "PropertyNameExpected" reads as "property name expected".
    const reason =
      error === undefined
        ? "it is empty"
        : printParseErrorCode(error.error)
            .replace(/([a-z])([A-Z])/g, "$1 $2")
            .toLowerCase();
    throw TsconfigError.at(text, error?.offset ?? 0, `not valid JSON: ${reason}`);
  }
  if (root.type !== "object") {
    throw TsconfigError.at(text, root.offset, "must hold an object");
  }
  const extendsKey = property(root, "extends")?.key;
  if (extendsKey !== undefined) {
    throw TsconfigError.at(
      text,
      extendsKey.offset,
      '"extends" is not supported; put the options in the file itself',
    );
  }
  const options = property(root, "compilerOptions", "last")?.value;
  if (options === undefined) return { compilerOptions: {} };
  if (options.type !== "object") {
    throw TsconfigError.at(text, options.offset, '"compilerOptions" must be an object');
  }
  for (const name of REFUSED) {
    const refused = property(options, name, "first")?.key;
    if (refused !== undefined) {
      throw TsconfigError.at(
        text,
        refused.offset,
        `"${name}" is not supported: imports are resolved from the uploaded files only, relative to the importing file`,
      );
    }
  }
  const kept: Record<string, unknown> = {};
  for (const name of KEPT) {
    const value = property(options, name, "last")?.value;
    if (value !== undefined) kept[name] = getNodeValue(value);
  }
  return { compilerOptions: kept as TsconfigRaw["compilerOptions"] };
}

/**
 * A property of a JSON object node: its key (where a message points) and its value. A name
 * given twice has two; JSON.parse would keep the last, and a refusal should find the first.
 */
function property(
  object: Node,
  name: string,
  which: "first" | "last" = "first",
): { key: Node; value: Node } | undefined {
  const found = (object.children ?? []).filter((p) => p.children?.[0]?.value === name);
  const chosen = which === "first" ? found[0] : found.at(-1);
  const [key, value] = chosen?.children ?? [];
  return key === undefined || value === undefined ? undefined : { key, value };
}
