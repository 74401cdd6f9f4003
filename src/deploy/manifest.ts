/**
 * `autokitteh.yaml`: parsing and validation. Every problem is reported with the line and
 * column of the YAML node at fault, so a user can go straight to it.
 */
import {
  isMap,
  isPair,
  isScalar,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from "yaml";
import { z } from "zod";
import { allowNetEntryProblem } from "../bindings/net-policy";
import { parseDuration } from "../duration";
import type { ProblemDetail } from "../errors";
import { lineAndColumn, yamlTooDeepAt } from "./nesting-depth";

export const MANIFEST_FILE = "autokitteh.yaml";

/** Bounds on what parsing a manifest may cost. */
const MAX_MANIFEST_CHARS = 256 * 1024;
const MAX_ALIAS_COUNT = 100;
/** A manifest needs four levels; parsing recurses once a level, so a deep one is refused. */
const MAX_MANIFEST_DEPTH = 64;
const MAX_PROBLEMS = 20;

export interface Manifest {
  version: "v1" | "v2";
  project: {
    name: string;
    vars: { name: string; value: string; secret: boolean }[];
    allow_net: string[];
    triggers: Trigger[];
  };
}

export interface Trigger {
  name: string;
  type: "webhook";
  is_sync: boolean;
  is_durable: boolean;
  /** Sync response timeout; `null` means the server's default. */
  timeout_ms: number | null;
  call: { file: string; export: string } | null;
  /** Lower-case methods that start a session; empty means any. */
  event_type: string[];
  filter: string | null;
}

const NAME = /^[a-z0-9_-]{1,64}$/;
const TRIGGER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];

/** The longest timeout a trigger may set: what a Node timer takes, about 24.8 days. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const duration = z.union([
  z.number().int().positive().max(MAX_TIMEOUT_MS, "must be at most 2147483647 ms (about 24 days)"),
  z.string().refine((text) => (parseDuration(text) ?? Infinity) <= MAX_TIMEOUT_MS, {
    message: 'must be a duration such as "500ms", "10s" or "2m", at most about 24 days',
  }),
]);

/** YAML 1.2 reads only true and false as booleans (`yes` is a string). */
const yesOrNo = z.boolean({ message: "must be true or false" });

const triggerSchema = z.strictObject({
  name: z.string().regex(TRIGGER_NAME, "must be 1-64 letters, digits, '_' or '-'"),
  type: z.literal("webhook", { message: 'must be "webhook" (the only type there is)' }),
  is_sync: yesOrNo.optional(),
  is_durable: yesOrNo.optional(),
  timeout: duration.optional(),
  call: z
    .string()
    .regex(
      /^[^:]+:[A-Za-z_$][A-Za-z0-9_$]*$/,
      'must be "FILE:EXPORT", for example "program.ts:on_event"',
    )
    .optional(),
  event_type: z.union([z.string(), z.array(z.string())]).optional(),
  filter: z.string().optional(),
});

const manifestSchema = z.strictObject({
  version: z.enum(["v1", "v2"], { message: 'must be "v1" or "v2"' }),
  project: z.strictObject({
    name: z.string().regex(NAME, "must be 1-64 lower-case letters, digits, '_' or '-'"),
    vars: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(VAR_NAME, "must be a letter or '_' followed by letters, digits or '_'"),
          value: z.union([z.string(), z.number(), z.boolean()]).transform(String),
          secret: yesOrNo.optional(),
          description: z.string().optional(),
        }),
      )
      .optional(),
    allow_net: z
      .array(
        z.string().superRefine((entry, context) => {
          const problem = allowNetEntryProblem(entry);
          if (problem !== null) context.addIssue({ code: "custom", message: problem });
        }),
      )
      .optional(),
    triggers: z.array(triggerSchema).optional(),
  }),
});

/**
 * The manifest, or its problems. `checked`: a manifest whose shape is right but whose values
 * have problems (a duplicate name, say) comes with them, so that the files and filters it
 * names can be checked too and a deploy reports all of them at once.
 */
export type ManifestResult =
  { ok: true; manifest: Manifest } | { ok: false; problems: ProblemDetail[]; checked?: Manifest };

/** Where a trigger's value sits (`call` by default), for errors found later (a missing export). */
export interface CallPositions {
  /** `trigger`: its name, or its place in the list (names may repeat in a manifest with problems). */
  get(trigger: string | number, key?: "call" | "filter"): { line: number; column: number } | null;
}

export function parseManifest(text: string): ManifestResult & { positions: CallPositions } {
  if (text.length > MAX_MANIFEST_CHARS) {
    const message = `${MANIFEST_FILE} is larger than ${MAX_MANIFEST_CHARS} characters`;
    return {
      ok: false,
      problems: [{ file: MANIFEST_FILE, line: null, column: null, message }],
      positions: { get: () => null },
    };
  }
  const tooDeep = yamlTooDeepAt(text, MAX_MANIFEST_DEPTH);
  if (tooDeep !== -1) {
    const message = `nested deeper than ${MAX_MANIFEST_DEPTH} levels`;
    return {
      ok: false,
      problems: [{ file: MANIFEST_FILE, ...lineAndColumn(text, tooDeep), message }],
      positions: { get: () => null },
    };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const positions = callPositions(doc, lines);
  const at = (offset: number | undefined) => {
    if (offset === undefined) return { line: null, column: null };
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      file: MANIFEST_FILE,
      ...at(e.pos[0]),
      message: e.message,
    }));
    return { ok: false, problems: firstDistinct(problems), positions };
  }
  let plain: unknown;
  try {
    plain = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Alias bombs ("billion laughs") and nesting too deep end here.
    const message = `${MANIFEST_FILE} cannot be read: ${(error as Error).message}`;
    return {
      ok: false,
      problems: [{ file: MANIFEST_FILE, line: null, column: null, message }],
      positions,
    };
  }
  const parsed = manifestSchema.safeParse(plain);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issuePath(issue);
      const node = nodeAt(doc, where.path, where.key);
      // A key that is not there at all: say so, rather than only what its value must be.
      const missing = valueAt(plain, issue.path) === undefined;
      return {
        file: MANIFEST_FILE,
        ...at(node?.range?.[0]),
        message: `${where.label}: ${missingMessage(missing, issue.message)}`,
      };
    });
    return { ok: false, problems, positions };
  }

  const project = parsed.data.project;
  const problems: ProblemDetail[] = [];
  const problem = (path: (string | number)[], message: string) => {
    problems.push({ file: MANIFEST_FILE, ...at(nodeAt(doc, path)?.range?.[0]), message });
  };
  const defaultDurable = parsed.data.version === "v1";
  const triggers: Trigger[] = (project.triggers ?? []).map((t, i) => {
    const path = ["project", "triggers", i];
    const methods = (typeof t.event_type === "string" ? [t.event_type] : (t.event_type ?? [])).map(
      (m) => m.toLowerCase(),
    );
    for (const method of methods) {
      if (!METHODS.includes(method))
        problem([...path, "event_type"], `event_type: unknown method "${method}"`);
    }
    if (t.is_sync && !t.call)
      problem(path, `trigger "${t.name}": is_sync needs a call to answer the request`);
    const [file, exportName] = t.call ? splitCall(t.call) : [null, null];
    return {
      name: t.name,
      type: "webhook",
      is_sync: t.is_sync ?? false,
      is_durable: t.is_durable ?? defaultDurable,
      timeout_ms:
        t.timeout === undefined
          ? null
          : typeof t.timeout === "number"
            ? t.timeout
            : parseDuration(t.timeout),
      call: file === null ? null : { file, export: exportName! },
      event_type: methods,
      filter: t.filter ?? null,
    };
  });
  duplicates(
    triggers.map((t) => t.name),
    (name, i) => problem(["project", "triggers", i, "name"], `duplicate trigger name "${name}"`),
  );
  const vars = (project.vars ?? []).map((v) => ({
    name: v.name,
    value: v.value,
    secret: v.secret ?? false,
  }));
  duplicates(
    vars.map((v) => v.name),
    (name, i) => problem(["project", "vars", i, "name"], `duplicate var name "${name}"`),
  );
  const manifest: Manifest = {
    version: parsed.data.version,
    project: { name: project.name, vars, allow_net: project.allow_net ?? [], triggers },
  };
  if (problems.length > 0) return { ok: false, problems, checked: manifest, positions };
  return { ok: true, manifest, positions };
}

/** A trigger's `call` as the manifest writes it, or `null` when it starts no session. */
export function callText(trigger: Trigger): string | null {
  return trigger.call === null ? null : `${trigger.call.file}:${trigger.call.export}`;
}

/** "missing", with what the value must be when the schema says it in its own words. */
function missingMessage(missing: boolean, message: string): string {
  if (!missing) return message;
  return message.startsWith("Invalid input") ? "missing" : `missing; it ${message}`;
}

/** The value at `path` in what the YAML holds, or `undefined` when there is none. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The first few problems, each once: a broken file can produce the same one many times. */
function firstDistinct(problems: ProblemDetail[]): ProblemDetail[] {
  const seen = new Set<string>();
  return problems.filter((p) => !seen.has(p.message) && seen.add(p.message)).slice(0, MAX_PROBLEMS);
}

function splitCall(call: string): [string, string] {
  const colon = call.lastIndexOf(":");
  return [call.slice(0, colon).replace(/^\.\//, ""), call.slice(colon + 1)];
}

function duplicates(names: string[], report: (name: string, index: number) => void): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name)) report(name, i);
    seen.add(name);
  });
}

/** The path of a zod issue, and for an unknown key the key itself, so we can point at it. */
function issuePath(issue: z.core.$ZodIssue): {
  path: (string | number)[];
  key: string | null;
  label: string;
} {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const key = issue.code === "unrecognized_keys" ? (issue.keys[0] ?? null) : null;
  const label = [...path, ...(key === null ? [] : [key])].join(".") || "manifest";
  return { path, key, label };
}

/** The YAML node at `path`, or the key node named `key` inside it; the nearest parent if absent. */
function nodeAt(doc: Document, path: (string | number)[], key: string | null = null): Node | null {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as Node | undefined;
    if (node === undefined || node === null) continue;
    if (key !== null && depth === path.length && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      if (pair && isScalar(pair.key)) return pair.key;
    }
    return node;
  }
  return doc.contents as Node | null;
}

function callPositions(doc: Document, lines: LineCounter): CallPositions {
  return {
    get(trigger, key = "call") {
      const triggers = doc.getIn(["project", "triggers"], true);
      if (!triggers || !("items" in (triggers as object))) return null;
      const items = (triggers as { items: unknown[] }).items;
      for (const [index, item] of items.entries()) {
        if (!isMap(item)) continue;
        if (typeof trigger === "number" ? index !== trigger : item.get("name") !== trigger)
          continue;
        const node = item.get(key, true) as Node | undefined;
        const offset = node?.range?.[0];
        if (offset === undefined) return null;
        const { line, col } = lines.linePos(offset);
        return { line, column: col };
      }
      return null;
    },
  };
}
