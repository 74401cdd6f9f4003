/**
 * The sandbox's `console`: each call becomes one `print` record of the current session, with
 * its arguments formatted the way Node's and Deno's `console.log` do (`%s`, `%d`, `%i`, `%f`,
 * `%j`, `%o`, `%O`, `%%` in a leading string; other values inspected).
 */
import inspect from "object-inspect";
import type { PrintLevel } from "../sandbox/protocol";
import type { SessionRegistry } from "./sessions";

/** Marks where a session's print budget ran out; what it prints after that is dropped. */
const OVER_BUDGET_NOTE =
  "[isohook] the session's print budget is spent; this print and later ones are dropped";
// No cut inside strings (a cut could split a secret before the host redacts it); the print
// budget bounds what is shown.
const INSPECT_OPTIONS = { depth: 4 } as const;
const FORMAT_SPECIFIER = /%[sdifjoOc%]/g;

export function createConsole(registry: SessionRegistry): Console {
  const print = (level: PrintLevel) =>
    function (...args: unknown[]): void {
      const session = registry.current("console." + level);
      if (session.printBudget <= 0) return;
      const text = formatArgs(args);
      if (text.length < session.printBudget) {
        session.printBudget -= text.length;
        registry.recordCall(session, "print", [level, text], null);
        return;
      }
      // The print that does not fit is dropped whole: a cut here, before the host redacts
      // secrets, could leave half of one that no redaction would know.
      registry.recordCall(session, "print", ["warn", OVER_BUDGET_NOTE], null);
      session.printBudget = 0;
    };
  return {
    log: print("log"),
    info: print("info"),
    warn: print("warn"),
    error: print("error"),
    debug: print("debug"),
    trace: print("debug"),
  };
}

export interface Console {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  trace(...args: unknown[]): void;
}

export function formatArgs(args: unknown[]): string {
  let rest = args;
  let head = "";
  const first = args[0];
  if (typeof first === "string" && args.length > 1) {
    let next = 1;
    head = first.replace(FORMAT_SPECIFIER, (specifier) => {
      if (specifier === "%%") return "%";
      if (next >= args.length) return specifier;
      return formatOne(specifier, args[next++]);
    });
    rest = args.slice(next);
  } else if (typeof first === "string") {
    head = first;
    rest = [];
  }
  const parts = rest.map((value) => (typeof value === "string" ? value : show(value)));
  return head === "" ? parts.join(" ") : [head, ...parts].join(" ");
}

function formatOne(specifier: string, value: unknown): string {
  switch (specifier) {
    case "%s":
      return typeof value === "string" ? value : show(value);
    case "%d":
    case "%i": {
      if (typeof value === "bigint") return `${value}n`;
      const number = Number(value);
      return String(specifier === "%i" ? Math.trunc(number) : number);
    }
    case "%f":
      return String(parseFloat(String(value)));
    case "%j":
      try {
        return JSON.stringify(value) ?? "undefined";
      } catch {
        return "[Circular]";
      }
    case "%c":
      return "";
    default:
      return show(value);
  }
}

function show(value: unknown): string {
  try {
    return inspect(value, INSPECT_OPTIONS);
  } catch {
    return "[value that cannot be shown]";
  }
}
