/**
 * `structuredClone`: core-js's implementation of the HTML Standard's algorithm (the
 * side-effect-free `core-js-pure` build, which touches no global).
 */
import clone from "core-js-pure/actual/structured-clone";

export const structuredClone: (value: unknown, options?: { transfer?: unknown[] }) => unknown =
  clone;
