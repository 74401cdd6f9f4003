/**
 * `DOMException`, which the web APIs throw (Web Crypto's "NotSupportedError", atob's
 * "InvalidCharacterError", ...): an Error with a name and the legacy numeric code.
 */

const LEGACY_CODES: Record<string, number> = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

let nameOf: (value: object) => string | undefined;

export class DOMException extends Error {
  readonly #name: string;

  static {
    nameOf = (value) => (#name in value ? value.#name : undefined);
  }

  constructor(message = "", name = "Error") {
    super(String(message));
    this.#name = String(name);
  }

  override get name(): string {
    return this.#name;
  }

  get code(): number {
    return LEGACY_CODES[this.#name] ?? 0;
  }
}

/** The name of a DOMException made here, or `undefined` if `value` is not one. */
export function domExceptionName(value: object): string | undefined {
  return nameOf(value);
}
