/**
 * Event filters: CEL expressions over `data` (the event's data, as `next_event` returns it)
 * and `event_type` (the lower-case method), as AutoKitteh uses them. An event passes only when
 * the filter is exactly `true`; an evaluation error (a missing key, say) means it does not.
 *
 * CEL itself is `@bufbuild/cel`. Here: compiling with clear errors (a syntax error, a name
 * other than `data` and `event_type`, a field data never has), and turning event data into CEL
 * values. CEL runs in the filter worker (`filter-worker.ts`), never on the server's main
 * thread; filters of string equalities are answered without it (equality-shortcut.ts).
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { WireEventData } from "../../sandbox";
import {
  decideEqualities,
  equalityTerms,
  type EqualityTerm,
  type ExprNode,
} from "./equality-shortcut";
import { stringFieldMisuse, unknownDataField } from "./filter-fields";

/**
 * A filter's verdict on one event: passed (exactly `true`) or not, and why not when it could
 * not be evaluated (a field the event does not have, a type mismatch), which is worth telling.
 */
export interface FilterVerdict {
  pass: boolean;
  error: string | null;
}

export type EventFilter = (subject: FilterSubject) => FilterVerdict;

/**
 * One event as filters see it: as sent, and converted for CEL on first use (then shared by
 * every filter that needs it), so that an event only shortcut filters look at is never
 * converted.
 */
export interface FilterSubject {
  event: FilterEvent;
  cel(): FilterInput;
}

export function filterSubject(event: FilterEvent): FilterSubject {
  let input: FilterInput | null = null;
  return { event, cel: () => (input ??= filterInput(event)) };
}

/** Event data converted for CEL once, and shared by every filter that looks at the event. */
export interface FilterInput {
  data: Map<string, unknown>;
  event_type: string;
}

export class FilterError extends Error {}

const VARIABLES = new Set(["data", "event_type"]);
const MAX_FILTER_CHARS = 1000;
const MAX_FILTER_NODES = 200;
/**
 * Filters see the body (bytes, text, json, form) of requests up to this size; above it, all
 * four are null. Evaluation is bounded in time and memory anyway; this keeps the copy to the
 * filter worker and the conversion small for the common case of filters on headers.
 */
export const MAX_FILTER_BODY_BYTES = 1024 * 1024;
const FORM_TYPE = "application/x-www-form-urlencoded";
/** Nesting of event data that filters see; deeper values are null. */
const MAX_FILTER_DEPTH = 32;
const env = celEnv();

/** A filter to evaluate; one stored before (a deployment's, a restored subscription's). */
export function compileFilter(source: string): EventFilter {
  return compile(source, false).filter;
}

/**
 * Checks a new filter, at deploy or `subscribe`: that it compiles and reads only fields event
 * data can have (throws a `FilterError` saying why not), and gives its equality terms, which
 * the server decides the filter by without CEL; `null` when it needs CEL.
 */
export function checkFilter(source: string): EqualityTerm[] | null {
  return compile(source, true).terms;
}

/**
 * The equality terms of a filter stored before (a deployment's, a restored subscription's), for
 * the server to decide it without CEL; `null` when it needs CEL or does not compile.
 */
export function storedFilterTerms(source: string): EqualityTerm[] | null {
  try {
    return compile(source, false).terms;
  } catch {
    return null;
  }
}

function compile(
  source: string,
  checkFields: boolean,
): { filter: EventFilter; terms: EqualityTerm[] | null } {
  if (source.length > MAX_FILTER_CHARS) {
    throw new FilterError(`a filter may be at most ${MAX_FILTER_CHARS} characters long`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (error) {
    const reason = (error as Error).message.replace(/^<input>:/, "");
    throw new FilterError(`filter ${JSON.stringify(source)} does not compile: ${reason}`);
  }
  const shape = inspect(parsed.expr);
  const unknown = shape.freeNames.filter((name) => !VARIABLES.has(name));
  if (unknown.length > 0) {
    const names = unknown.map((n) => JSON.stringify(n)).join(", ");
    throw new FilterError(
      `filter ${JSON.stringify(source)} uses ${names}; filters can use data and event_type` +
        hyphenHint(source, unknown),
    );
  }
  // Bounds on what one evaluation can cost, since it runs on the server for every event:
  // a comprehension inside a comprehension multiplies, so it is refused outright.
  if (shape.nodes > MAX_FILTER_NODES) {
    throw new FilterError(
      `filter ${JSON.stringify(source)} is too complex (more than ${MAX_FILTER_NODES} terms)`,
    );
  }
  if (shape.comprehensionDepth > 1) {
    throw new FilterError(
      `filter ${JSON.stringify(source)} nests a macro (all, exists, map, filter…) inside another; filters may not`,
    );
  }
  if (checkFields) {
    const unknownField = unknownDataField(parsed.expr);
    if (unknownField !== null) {
      throw new FilterError(
        `filter ${JSON.stringify(source)} reads a field events never have: ${unknownField}`,
      );
    }
    const misuse = stringFieldMisuse(parsed.expr);
    if (misuse !== null) throw new FilterError(`filter ${JSON.stringify(source)} ${misuse}`);
  }
  const evaluate = plan(env, parsed);
  const terms = equalityTerms(parsed.expr);
  const filter: EventFilter = (subject) => {
    const decided = terms === null ? undefined : decideEqualities(terms, subject.event);
    if (decided !== undefined) return { pass: decided, error: null };
    try {
      const result = evaluate(subject.cel() as never);
      if (isCelError(result)) return { pass: false, error: result.message };
      return { pass: result === true, error: null };
    } catch (error) {
      return { pass: false, error: (error as Error).message };
    }
  };
  return { filter, terms };
}

/**
 * `data.headers.x-user` reads as `data.headers.x - user`: a hint for the usual cause of a name
 * that is not a variable, a key with a hyphen written after a dot.
 */
function hyphenHint(source: string, unknown: string[]): string {
  // String literals blanked out, so that what is inside one is never taken for a key.
  const code = source.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, (text) =>
    " ".repeat(text.length),
  );
  const written = /(?<![\w.\])])(data(?:\.[A-Za-z_]\w*)*)\.([A-Za-z_]\w*(?:-\w+)+)/g;
  for (const [, owner, key] of code.matchAll(written)) {
    if (!key!.split("-").some((part) => unknown.includes(part))) continue;
    // Header names in `data` are lower case.
    const name = owner === "data.headers" ? key!.toLowerCase() : key!;
    return ` (a key with "-" goes in brackets: ${owner}["${name}"])`;
  }
  return "";
}

/** What is sent to the filter worker for one event: its data, with the body only if small. */
export interface FilterEvent {
  /** Unique per event: evaluations for one event share one conversion. */
  id: string;
  eventType: string;
  head: Omit<WireEventData, "body">;
  /** `null` when the body is over `MAX_FILTER_BODY_BYTES` (not sent at all). */
  body: Uint8Array | null;
}

export function toFilterEvent(id: string, data: WireEventData): FilterEvent {
  const { body, ...head } = data;
  return {
    id,
    eventType: data.method.toLowerCase(),
    head,
    body: body.bytes.length <= MAX_FILTER_BODY_BYTES ? body.bytes : null,
  };
}

/**
 * The event as CEL sees it: objects as maps, JSON numbers as doubles, the body's bytes as
 * bytes, and text, json and form as the sandbox works them out (all null for a body over
 * `MAX_FILTER_BODY_BYTES`).
 */
export function filterInput(event: FilterEvent): FilterInput {
  const bytes = event.body;
  const text = bytes === null ? null : decodeUtf8(bytes);
  const body = {
    text,
    json: parseJson(text),
    form: text !== null && isForm(event.head.headers) ? formFields(text) : null,
  };
  const converted = toCel({ ...event.head, body }, 0) as Map<string, unknown>;
  (converted.get("body") as Map<string, unknown>).set("bytes", bytes);
  return { data: converted, event_type: event.eventType };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function isForm(headers: Record<string, string>): boolean {
  return (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase() === FORM_TYPE;
}

function formFields(text: string): Record<string, string> {
  // No prototype: a field named "__proto__" is a field like any other.
  const fields = Object.create(null) as Record<string, string>;
  for (const [name, value] of new URLSearchParams(text)) {
    fields[name] = Object.hasOwn(fields, name) ? `${fields[name]}, ${value}` : value;
  }
  return fields;
}

function toCel(value: unknown, depth: number): unknown {
  if (depth > MAX_FILTER_DEPTH) return null;
  if (Array.isArray(value)) return value.map((item) => toCel(item, depth + 1));
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v, depth + 1)]));
  }
  return value;
}

/**
 * What an expression reads (identifiers no comprehension binds), how many terms it has, and
 * how deeply its comprehensions (`all`, `exists`, `map`, …) nest.
 */
function inspect(root: ExprNode): {
  freeNames: string[];
  nodes: number;
  comprehensionDepth: number;
} {
  const found = new Set<string>();
  let nodes = 0;
  let deepest = 0;
  const visit = (node: ExprNode | undefined, bound: ReadonlySet<string>, depth: number): void => {
    if (node === undefined) return;
    nodes += 1;
    deepest = Math.max(deepest, depth);
    const { case: kind, value } = node.exprKind as { case: string; value: Record<string, any> };
    switch (kind) {
      case "identExpr":
        if (!bound.has(value.name)) found.add(value.name);
        break;
      case "selectExpr":
        visit(value.operand, bound, depth);
        break;
      case "callExpr":
        visit(value.target, bound, depth);
        for (const arg of value.args) visit(arg, bound, depth);
        break;
      case "listExpr":
        for (const element of value.elements) visit(element, bound, depth);
        break;
      case "structExpr":
        for (const entry of value.entries) {
          if (entry.keyKind?.case === "mapKey") visit(entry.keyKind.value, bound, depth);
          visit(entry.value, bound, depth);
        }
        break;
      case "comprehensionExpr": {
        const inner = new Set(
          [...bound, value.iterVar, value.iterVar2, value.accuVar].filter(Boolean),
        );
        visit(value.iterRange, bound, depth + 1);
        visit(value.accuInit, bound, depth + 1);
        visit(value.loopCondition, inner, depth + 1);
        visit(value.loopStep, inner, depth + 1);
        visit(value.result, inner, depth + 1);
        break;
      }
    }
  };
  visit(root, new Set(), 0);
  return { freeNames: [...found], nodes, comprehensionDepth: deepest };
}
