/**
 * The server's error family. Each error has a stable `code`, the HTTP status it maps to, and
 * `expose`, which says whether its message may reach the caller. Unexposed errors reach the
 * caller as a bare "internal error"; the full story stays in the server log.
 */

export interface ProblemDetail {
  file: string | null;
  line: number | null;
  column: number | null;
  message: string;
}

export class IsohookError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { expose?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = options.expose ?? status < 500;
  }
}

/** A project that cannot be deployed; `details` point at the files and lines at fault. */
export class DeployError extends IsohookError {
  readonly details: ProblemDetail[];

  constructor(message: string, details: ProblemDetail[] = []) {
    super("deploy_failed", 400, message);
    this.details = details;
  }
}

export class BadRequestError extends IsohookError {
  constructor(message: string) {
    super("bad_request", 400, message);
  }
}

export class UnauthorizedError extends IsohookError {
  constructor() {
    super("unauthorized", 401, "a valid bearer token is required");
  }
}

export class NotFoundError extends IsohookError {
  constructor(message: string) {
    super("not_found", 404, message);
  }
}

export class ConflictError extends IsohookError {
  constructor(message: string) {
    super("conflict", 409, message);
  }
}

export class PayloadTooLargeError extends IsohookError {
  readonly limitBytes: number;

  constructor(what: string, limitBytes: number) {
    super("payload_too_large", 413, `${what} is larger than the limit of ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/** A gzip body that inflates far more than real payloads do: a bomb, or close enough. */
export class GzipRatioError extends IsohookError {
  constructor(what: string, sentBytes: number, ratio: number) {
    super(
      "payload_too_large",
      413,
      `${what} inflates to more than ${ratio} times the ${sentBytes} bytes sent; send it uncompressed`,
    );
  }
}

/** Request bodies in progress hold as much memory as the server (or the project) allows. */
export class BodiesBusyError extends IsohookError {
  readonly retryAfterSeconds: number;

  constructor(scope: "project" | "server", limitBytes: number, retryAfterSeconds: number) {
    super(
      "busy",
      503,
      `the request bodies in progress for this ${scope} take ${limitBytes} bytes already; retry later`,
      { expose: true },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The server is stopping: a webhook that arrives now is not taken (it would not be kept). */
export class StoppingError extends IsohookError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super("stopping", 503, "the server is stopping; retry later", { expose: true });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class UnsupportedEncodingError extends IsohookError {
  constructor(encoding: string) {
    super(
      "unsupported_encoding",
      415,
      `Content-Encoding ${JSON.stringify(encoding)} is not supported; use gzip or none`,
    );
  }
}

export class TooManySessionsError extends IsohookError {
  readonly retryAfterSeconds: number;

  constructor(limit: number, retryAfterSeconds: number) {
    super("too_many_sessions", 429, `too many running sessions (limit ${limit}); retry later`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
