/**
 * Reading request bodies within a limit: declared (`Content-Length`) or streamed (chunked),
 * and for `Content-Encoding: gzip`, the decoded size too, so a gzip bomb stops at the limit.
 *
 * A refused body is drained before the connection is let go: a client still sending when the
 * server closes gets a broken pipe instead of the 413. Draining has its own bound, in bytes
 * and time, after which the connection is cut.
 */
import type { IncomingMessage } from "node:http";
import getRawBody from "raw-body";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import {
  BadRequestError,
  GzipRatioError,
  PayloadTooLargeError,
  UnsupportedEncodingError,
} from "../errors";

const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;
/** Compressed data may be a little larger than what it decodes to. */
const GZIP_SLACK_BYTES = 64 * 1024;
/**
 * How much larger than what was sent a gzip body may decode to (past a first megabyte). Real
 * payloads stay far below it; a bomb (a few kilobytes that inflate to the whole body limit)
 * does not, and would let a caller make the server hold and store a thousand times what it
 * sent.
 */
const MAX_GZIP_RATIO = 200;
const GZIP_RATIO_FLOOR_BYTES = 1024 * 1024;

// Decoded on libuv's thread pool, never on the main thread: inflating megabytes takes
// milliseconds, and webhooks of every project wait on the main thread.
const gunzipAsync = promisify(gunzip);

/** The client went away before its body arrived; there is no one to answer. */
export class ClientGoneError extends Error {}

export interface BodyOptions {
  limitBytes: number;
  /** Names the body in errors: "the request body", "the upload". */
  what: string;
  /** Accept `Content-Encoding: gzip`; otherwise any encoding is refused with 415. */
  gzip: boolean;
  /**
   * Called with each chunk's size as it arrives, and with what gzip adds once decoded: the
   * memory the body takes, as it takes it. Throwing refuses the body then (with that error),
   * before the rest of it is held.
   */
  hold?: (bytes: number) => void;
}

export async function readBody(req: IncomingMessage, options: BodyOptions): Promise<Buffer> {
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const gzipped = encoding === "gzip" || encoding === "x-gzip";
  if (encoding !== "identity" && encoding !== "" && !(options.gzip && gzipped)) {
    drain(req);
    throw new UnsupportedEncodingError(encoding);
  }

  const wireLimit = gzipped ? options.limitBytes + GZIP_SLACK_BYTES : options.limitBytes;
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > wireLimit) {
    drain(req);
    throw new PayloadTooLargeError(options.what, options.limitBytes);
  }

  let refusal: Error | null = null;
  const hold = options.hold;
  if (hold !== undefined) {
    req.on("data", (chunk: Buffer) => {
      if (refusal !== null) return;
      try {
        hold(chunk.length);
      } catch (error) {
        refusal = error as Error;
        // Ends the read (raw-body rejects with it); what is still coming is drained.
        req.emit("error", refusal);
      }
    });
  }

  let raw: Buffer;
  try {
    raw = await getRawBody(req, { limit: wireLimit });
  } catch (error) {
    if (refusal !== null) {
      drain(req);
      throw refusal;
    }
    throw translate(error, req, options);
  }
  if (!gzipped) return raw;

  const ratioLimit = Math.max(GZIP_RATIO_FLOOR_BYTES, raw.length * MAX_GZIP_RATIO);
  const maxOutputLength = Math.min(options.limitBytes, ratioLimit);
  let decoded: Buffer;
  try {
    decoded = await gunzipAsync(raw, { maxOutputLength });
  } catch (error) {
    if (
      error instanceof RangeError ||
      (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
    ) {
      if (maxOutputLength < options.limitBytes) {
        throw new GzipRatioError(options.what, raw.length, MAX_GZIP_RATIO);
      }
      throw new PayloadTooLargeError(`${options.what} (decoded)`, options.limitBytes);
    }
    throw new BadRequestError(`${options.what} is not valid gzip: ${(error as Error).message}`);
  }
  hold?.(Math.max(0, decoded.length - raw.length));
  return decoded;
}

function translate(error: unknown, req: IncomingMessage, options: BodyOptions): Error {
  const type = (error as { type?: string }).type;
  if (type === "entity.too.large") {
    drain(req);
    return new PayloadTooLargeError(options.what, options.limitBytes);
  }
  if (type === "request.aborted") return new ClientGoneError("the client went away");
  if (type === "request.size.invalid") {
    return new BadRequestError(`${options.what} does not match its Content-Length`);
  }
  return new BadRequestError(`${options.what} cannot be read: ${(error as Error).message}`);
}

/** Read and throw away the rest of a refused body, within bounds; then cut the connection. */
export function drain(req: IncomingMessage): void {
  let seen = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, DRAIN_TIMEOUT_MS);
  timer.unref();
  req.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT_BYTES) cut();
  });
  req.on("end", () => clearTimeout(timer));
  req.on("close", () => clearTimeout(timer));
  req.resume();
}
