/**
 * Reading an uploaded project (a `.tar.gz`, or `multipart/form-data` files) into memory, file
 * by file. Nothing is written to disk, and every path is checked: a path that is absolute,
 * climbs out with `..`, or is a link is refused, as are archives that expand past the limit.
 */
import Busboy from "busboy";
import path from "node:path/posix";
import { gunzipSync } from "node:zlib";
import { Parser, type ReadEntry } from "tar";
import { BadRequestError, PayloadTooLargeError } from "../errors";
import { MANIFEST_FILE } from "./manifest";
import type { ProjectFiles } from "./bundle";

const MAX_FILES = 1000;

export async function readUpload(
  body: Buffer,
  contentType: string | undefined,
  maxBytes: number,
): Promise<ProjectFiles> {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  let files: Map<string, Buffer>;
  if (type === "multipart/form-data") {
    files = await readMultipart(body, contentType!, maxBytes);
  } else if (
    [
      "application/gzip",
      "application/x-gzip",
      "application/x-tar",
      "application/octet-stream",
      "",
    ].includes(type)
  ) {
    files = await readTarball(body, maxBytes);
  } else {
    throw new BadRequestError(
      `cannot deploy a ${type} body; send a .tar.gz (Content-Type: application/gzip) or multipart/form-data files`,
    );
  }
  return stripCommonFolder(files);
}

async function readTarball(body: Buffer, maxBytes: number): Promise<Map<string, Buffer>> {
  const tar = gunzipWithin(body, maxBytes);
  const files = new Map<string, Buffer>();
  let failure: Error | null = null;
  const fail = (error: Error) => (failure ??= error);

  const parser = new Parser({
    strict: true,
    onReadEntry(entry: ReadEntry) {
      if (failure !== null || entry.type === "Directory") return entry.resume();
      if (entry.type !== "File" && entry.type !== "OldFile" && entry.type !== "ContiguousFile") {
        fail(
          new BadRequestError(
            `${entry.path}: ${describeType(entry.type)} are not allowed in a project`,
          ),
        );
        return entry.resume();
      }
      let name: string;
      try {
        name = safePath(entry.path);
      } catch (error) {
        fail(error as Error);
        return entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () => addFile(files, name, Buffer.concat(chunks), fail));
    },
  });
  const finished = new Promise<void>((resolve) => {
    parser.on("error", (error: Error) => {
      fail(new BadRequestError(`the archive cannot be read: ${error.message}`));
      resolve();
    });
    parser.on("end", () => resolve());
    parser.on("close", () => resolve());
  });
  // The whole archive is in memory and within the limit: no stream can stall half-way.
  parser.end(tar);
  await finished;
  if (failure !== null) throw failure;
  return files;
}

/** The archive unpacked (when gzipped), refusing to inflate past `maxBytes`. */
function gunzipWithin(body: Buffer, maxBytes: number): Buffer {
  const gzipped = body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
  if (!gzipped) return body;
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if (
      error instanceof RangeError ||
      (error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
    ) {
      throw new PayloadTooLargeError("the unpacked project", maxBytes);
    }
    throw new BadRequestError(`the archive is not valid gzip: ${(error as Error).message}`);
  }
}

function readMultipart(
  body: Buffer,
  contentType: string,
  maxBytes: number,
): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Buffer>();
    let failure: Error | null = null;
    const fail = (error: Error) => (failure ??= error);
    let parser: Busboy.Busboy;
    try {
      parser = Busboy({
        headers: { "content-type": contentType },
        preservePath: true,
        limits: { files: MAX_FILES, fileSize: maxBytes },
      });
    } catch (error) {
      reject(new BadRequestError(`the multipart body cannot be read: ${(error as Error).message}`));
      return;
    }
    parser.on("file", (_field, stream, info) => {
      const chunks: Buffer[] = [];
      let name: string;
      try {
        name = safePath(info.filename ?? "");
      } catch (error) {
        fail(error as Error);
        stream.resume();
        return;
      }
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("limit", () => fail(new PayloadTooLargeError(`file ${name}`, maxBytes)));
      stream.on("end", () => addFile(files, name, Buffer.concat(chunks), fail));
    });
    parser.on("filesLimit", () =>
      fail(new BadRequestError(`a project may have at most ${MAX_FILES} files`)),
    );
    parser.on("error", (error: Error) =>
      reject(new BadRequestError(`the multipart body cannot be read: ${error.message}`)),
    );
    parser.on("close", () => (failure ? reject(failure) : resolve(files)));
    parser.end(body);
  });
}

function addFile(
  files: Map<string, Buffer>,
  name: string,
  data: Buffer,
  fail: (e: Error) => void,
): void {
  if (files.has(name)) return void fail(new BadRequestError(`${name} appears twice in the upload`));
  if (files.size >= MAX_FILES)
    return void fail(new BadRequestError(`a project may have at most ${MAX_FILES} files`));
  files.set(name, data);
}

/** A project-relative path, or a refusal naming the path. */
export function safePath(raw: string): string {
  if (raw === "" || raw.includes("\0"))
    throw new BadRequestError("a file in the upload has no usable name");
  if (raw.includes("\\")) throw new BadRequestError(`${raw}: use "/" in paths, not "\\"`);
  if (raw.startsWith("/") || /^[A-Za-z]:/.test(raw)) {
    throw new BadRequestError(
      `${raw}: absolute paths are not allowed; paths must stay inside the project`,
    );
  }
  const normalized = path.normalize(raw).replace(/\/+$/, "");
  if (normalized === ".." || normalized.startsWith("../") || raw.split("/").includes("..")) {
    throw new BadRequestError(`${raw}: ".." is not allowed; paths must stay inside the project`);
  }
  if (normalized === "." || normalized === "") throw new BadRequestError(`${raw}: not a file path`);
  return normalized;
}

/** A project packed with its folder (`my_project/autokitteh.yaml`, ...) is read from inside it. */
function stripCommonFolder(files: Map<string, Buffer>): Map<string, Buffer> {
  if (files.has(MANIFEST_FILE) || files.size === 0) return files;
  const tops = new Set([...files.keys()].map((name) => name.split("/")[0]));
  if (tops.size !== 1) return files;
  const [top] = tops;
  if (!files.has(`${top}/${MANIFEST_FILE}`)) return files;
  return new Map([...files].map(([name, data]) => [name.slice(top!.length + 1), data]));
}

function describeType(type: string): string {
  if (type === "SymbolicLink") return "symbolic links";
  if (type === "Link") return "hard links";
  return `entries of type ${type}`;
}
