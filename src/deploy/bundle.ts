/**
 * Bundling a project with esbuild, straight from the uploaded files in memory.
 *
 * The output is one script whose value is a factory: `(autokitteh) => exports`. The sandbox
 * calls it once per session, which runs the top level of the user's files anew each time.
 * Each trigger's handler is re-exported under a short key (`h0`, `h1`, ...); a missing export
 * is then a bundling error that points at the line naming it.
 */
import { build, transform, type Message, type Plugin, type TsconfigRaw } from "esbuild";
import path from "node:path/posix";
import { safeTsconfig, TsconfigError, TSCONFIG_FILE } from "./tsconfig";

export type ProjectFiles = ReadonlyMap<string, Buffer>;

export interface HandlerRef {
  key: string;
  /** The trigger whose `call` this is. */
  trigger: string;
  file: string;
  exportName: string;
}

export interface BundleProblem {
  /** Project-relative file, or `null` when the problem is tied to a handler (see `handler`). */
  file: string | null;
  line: number | null;
  column: number | null;
  message: string;
  /** Set when the problem is about one handler reference (a missing export, say). */
  handler: HandlerRef | null;
  /** For a missing export: what the handler's file does export, when that can be told. */
  exports?: string[];
}

export type BundleResult =
  { ok: true; code: string; sourceMap: string } | { ok: false; problems: BundleProblem[] };

const ENTRY = "isohook:entry";
const PROJECT = "project";
const AUTOKITTEH = "autokitteh";
const FACTORY_PARAM = "__isohook_autokitteh";
/** What the `autokitteh` module exports (the runtime's `createAutokitteh`). */
export const AUTOKITTEH_EXPORTS = [
  "http_outcome",
  "getenv",
  "subscribe",
  "next_event",
  "unsubscribe",
] as const;
const EXPORTS_NAME = "__isohook_exports";
/** Broken files reported past the ones the build itself names. */
const MAX_EXTRA_PROBLEMS = 20;
const RESOLVE_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx", ".json"];
const LOADERS = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
  ".json": "json",
} as const;

export async function bundleProject(
  files: ProjectFiles,
  handlers: HandlerRef[],
): Promise<BundleResult> {
  const entrySource = handlers
    .map(
      (h) =>
        `export { ${JSON.stringify(h.exportName)} as ${h.key} } from ${JSON.stringify("./" + h.file)};`,
    )
    .join("\n");
  const tsconfigText = files.get(TSCONFIG_FILE)?.toString("utf8");
  let tsconfig: TsconfigRaw | undefined;
  try {
    tsconfig = tsconfigText === undefined ? undefined : safeTsconfig(tsconfigText);
  } catch (error) {
    if (!(error instanceof TsconfigError)) throw error;
    return {
      ok: false,
      problems: [
        {
          file: TSCONFIG_FILE,
          line: error.line,
          column: error.column,
          message: error.message,
          handler: null,
        },
      ],
    };
  }

  try {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: "iife",
      globalName: EXPORTS_NAME,
      platform: "neutral",
      target: "es2022",
      charset: "utf8",
      sourcemap: "external",
      sourcesContent: false,
      outfile: "bundle.js",
      logLevel: "silent",
      // `ak.sleep()` on `import * as ak` names nothing there: a build error, as `import { sleep }` is.
      logOverride: { "import-is-undefined": "error" },
      legalComments: "none",
      banner: { js: `(function (${FACTORY_PARAM}) {\n"use strict";` },
      footer: { js: `return ${EXPORTS_NAME};\n})` },
      ...(tsconfig === undefined ? {} : { tsconfigRaw: tsconfig }),
      plugins: [projectFiles(files, entrySource)],
    });
    const code = result.outputFiles.find((f) => f.path.endsWith(".js"))!.text;
    const map = result.outputFiles.find((f) => f.path.endsWith(".map"))!.text;
    return { ok: true, code, sourceMap: cleanSourceMap(map) };
  } catch (error) {
    const messages = (error as { errors?: Message[] }).errors;
    if (!Array.isArray(messages)) throw error;
    const problems = messages.map((m) => toProblem(m, handlers));
    problems.push(...(await syntaxProblemsElsewhere(files, problems, tsconfig)));
    for (const problem of problems) {
      if (problem.handler !== null && /no matching export/i.test(problem.message))
        problem.exports = (await exportsOf(files, problem.handler.file, tsconfig)) ?? undefined;
    }
    return { ok: false, problems };
  }
}

/**
 * The names `file` exports (its re-exports included), or `null` when it does not build.
 * `export *` leaves `default` out, so a second build asks for it alone.
 */
async function exportsOf(
  files: ProjectFiles,
  file: string,
  tsconfig: TsconfigRaw | undefined,
): Promise<string[] | null> {
  const from = JSON.stringify("./" + file);
  const named = await exportsOfEntry(files, `export * from ${from};`, tsconfig);
  if (named === null) return null;
  const withDefault = await exportsOfEntry(files, `export { default } from ${from};`, tsconfig);
  return withDefault === null ? named : ["default", ...named];
}

async function exportsOfEntry(
  files: ProjectFiles,
  entry: string,
  tsconfig: TsconfigRaw | undefined,
): Promise<string[] | null> {
  try {
    const result = await build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: "esm",
      platform: "neutral",
      metafile: true,
      logLevel: "silent",
      outfile: "exports.js",
      ...(tsconfig === undefined ? {} : { tsconfigRaw: tsconfig }),
      plugins: [projectFiles(files, entry)],
    });
    return Object.values(result.metafile.outputs)[0]?.exports ?? null;
  } catch {
    return null;
  }
}

/**
 * esbuild does not follow the imports of a file that does not parse, so a failed build only
 * names the first broken file on each import path. Parsing every other source file on its own
 * finds the rest, so that one deploy shows all of them.
 */
async function syntaxProblemsElsewhere(
  files: ProjectFiles,
  known: BundleProblem[],
  tsconfig: TsconfigRaw | undefined,
): Promise<BundleProblem[]> {
  const reported = new Set(known.map((p) => p.file));
  const found: BundleProblem[] = [];
  for (const [file, contents] of files) {
    const loader = LOADERS[path.extname(file) as keyof typeof LOADERS];
    if (loader === undefined || loader === "json" || reported.has(file)) continue;
    if (found.length >= MAX_EXTRA_PROBLEMS) break;
    try {
      await transform(contents, {
        loader,
        sourcefile: file,
        logLevel: "silent",
        ...(tsconfig === undefined ? {} : { tsconfigRaw: tsconfig }),
      });
    } catch (error) {
      const messages = (error as { errors?: Message[] }).errors;
      if (!Array.isArray(messages)) throw error;
      for (const m of messages) found.push({ ...toProblem(m, []), file });
    }
  }
  return found;
}

/** Resolves and loads every import from the uploaded files; nothing is read from disk. */
function projectFiles(files: ProjectFiles, entrySource: string): Plugin {
  return {
    name: "isohook-project",
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "entry-point") return { path: ENTRY, namespace: ENTRY };
        if (args.path === AUTOKITTEH) return { path: AUTOKITTEH, namespace: AUTOKITTEH };

        const from = args.namespace === PROJECT ? path.dirname(args.importer) : ".";
        if (
          !args.path.startsWith("./") &&
          !args.path.startsWith("../") &&
          !args.path.startsWith("/")
        ) {
          return { errors: [{ text: bareImportMessage(args.path) }] };
        }
        const wanted = path.normalize(path.join(from, args.path));
        if (wanted.startsWith("../") || wanted === ".." || path.isAbsolute(wanted)) {
          return { errors: [{ text: `cannot import "${args.path}": it is outside the project` }] };
        }
        const found = resolveFile(files, wanted);
        if (found === null) {
          return { errors: [{ text: `cannot find "${args.path}" in the project` }] };
        }
        return { path: found, namespace: PROJECT };
      });

      pluginBuild.onLoad({ filter: /.*/, namespace: ENTRY }, () => ({
        contents: entrySource,
        loader: "js",
        resolveDir: "/",
      }));
      // The module's value is the factory's parameter: the sandbox passes the runtime's module.
      // Its names are listed, so that importing one it does not have fails the deploy at the
      // import, rather than every session at the call.
      pluginBuild.onLoad({ filter: /.*/, namespace: AUTOKITTEH }, () => ({
        contents: [
          ...AUTOKITTEH_EXPORTS.map((name) => `export const ${name} = ${FACTORY_PARAM}.${name};`),
          `export default ${FACTORY_PARAM};`,
        ].join("\n"),
        loader: "js",
      }));
      pluginBuild.onLoad({ filter: /.*/, namespace: PROJECT }, (args) => ({
        contents: files.get(args.path)!,
        loader: LOADERS[path.extname(args.path) as keyof typeof LOADERS] ?? "ts",
      }));
    },
  };
}

/** The file an import names, trying what TypeScript would: extensions, `.js` for `.ts`, index. */
function resolveFile(files: ProjectFiles, wanted: string): string | null {
  const candidates = [wanted];
  const ext = path.extname(wanted);
  if ([".js", ".mjs", ".cjs", ".jsx"].includes(ext)) {
    const stem = wanted.slice(0, -ext.length);
    candidates.push(...[".ts", ".tsx", ".mts", ".cts"].map((e) => stem + e));
  }
  candidates.push(...RESOLVE_EXTENSIONS.map((e) => wanted + e));
  candidates.push(...RESOLVE_EXTENSIONS.map((e) => path.join(wanted, "index" + e)));
  return candidates.find((c) => files.has(c)) ?? null;
}

function bareImportMessage(specifier: string): string {
  if (specifier.startsWith("node:") || NODE_BUILTINS.has(specifier.split("/")[0]!)) {
    return `cannot import "${specifier}": Node's modules are not available in the sandbox`;
  }
  return (
    `cannot import "${specifier}": only relative imports and "autokitteh" are supported; ` +
    "copy the package's source into the project to use it"
  );
}

const NODE_BUILTINS = new Set([
  "assert",
  "buffer",
  "child_process",
  "cluster",
  "crypto",
  "dgram",
  "dns",
  "events",
  "fs",
  "http",
  "http2",
  "https",
  "net",
  "os",
  "path",
  "process",
  "querystring",
  "readline",
  "stream",
  "string_decoder",
  "timers",
  "tls",
  "tty",
  "url",
  "util",
  "v8",
  "vm",
  "worker_threads",
  "zlib",
]);

function toProblem(message: Message, handlers: HandlerRef[]): BundleProblem {
  const location = message.location;
  if (location === null) {
    return { file: null, line: null, column: null, message: message.text, handler: null };
  }
  if (location.file.startsWith(ENTRY)) {
    // Line N of the generated entry re-exports handler N.
    const handler = handlers[location.line - 1] ?? null;
    return { file: null, line: null, column: null, message: message.text, handler };
  }
  return {
    file: stripNamespace(location.file),
    line: location.line,
    column: location.column + 1,
    message: withoutNamespaces(message.text),
    handler: null,
  };
}

/** esbuild names modules by their namespace too (`"project:util.ts"`); users know the file. */
function withoutNamespaces(text: string): string {
  return text
    .replaceAll(`"${AUTOKITTEH}:${AUTOKITTEH}"`, `"${AUTOKITTEH}"`)
    .replaceAll(`"${PROJECT}:`, '"');
}

function stripNamespace(file: string): string {
  return file.startsWith(PROJECT + ":") ? file.slice(PROJECT.length + 1) : file;
}

function cleanSourceMap(json: string): string {
  const map = JSON.parse(json) as { sources: string[] };
  map.sources = map.sources.map(stripNamespace);
  return JSON.stringify(map);
}
