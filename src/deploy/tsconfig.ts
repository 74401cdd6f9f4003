/**
 * A project's `tsconfig.json`, reduced to the compiler options that change how esbuild turns
 * TypeScript into JavaScript. Everything that would make esbuild look at the disk (`extends`,
 * `paths`, `baseUrl`, a JSX import source) is refused: the file comes from whoever deploys,
 * and the disk is the server's.
 */
import { parse, printParseErrorCode, type ParseError } from "jsonc-parser";
import type { TsconfigRaw } from "esbuild";

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
/** Options that would read files outside the upload. */
const REFUSED = ["paths", "baseUrl", "jsxImportSource", "rootDirs", "typeRoots", "types"] as const;

export class TsconfigError extends Error {}

export function safeTsconfig(text: string): TsconfigRaw {
  const errors: ParseError[] = [];
  const parsed = parse(text, errors, { allowTrailingComma: true }) as unknown;
  if (errors.length > 0) {
    throw new TsconfigError(
      `${TSCONFIG_FILE} is not valid JSON: ${printParseErrorCode(errors[0]!.error)} at offset ${errors[0]!.offset}`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TsconfigError(`${TSCONFIG_FILE} must hold an object`);
  }
  const config = parsed as { extends?: unknown; compilerOptions?: Record<string, unknown> };
  if (config.extends !== undefined) {
    throw new TsconfigError(
      `${TSCONFIG_FILE}: "extends" is not supported; put the options in the file itself`,
    );
  }
  const options = config.compilerOptions ?? {};
  const refused = REFUSED.filter((name) => name in options);
  if (refused.length > 0) {
    throw new TsconfigError(
      `${TSCONFIG_FILE}: ${refused.join(", ")} ${refused.length === 1 ? "is" : "are"} not supported (only relative imports are)`,
    );
  }
  const kept: Record<string, unknown> = {};
  for (const name of KEPT) if (name in options) kept[name] = options[name];
  return { compilerOptions: kept as TsconfigRaw["compilerOptions"] };
}
