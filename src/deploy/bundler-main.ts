/**
 * The bundler process: esbuild runs here, away from the server, because some inputs crash it
 * for good (a parser stack overflow kills its service, and it does not come back). When that
 * happens this process answers that the project could not be built, and exits; the server
 * starts another for the next deploy.
 */
import { bundleProject, type HandlerRef } from "./bundle";

interface Request {
  id: number;
  files: Map<string, Uint8Array>;
  handlers: HandlerRef[];
}

const SERVICE_GONE = /service (was stopped|is no longer running)/i;

process.on("message", (request: Request) => {
  const files = new Map(
    [...request.files].map(([name, bytes]) => [
      name,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    ]),
  );
  bundleProject(files, request.handlers).then(
    (result) => process.send!({ id: request.id, result }),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const crashed = SERVICE_GONE.test(message);
      const problem = crashed
        ? "esbuild crashed on this project's code (nesting too deep?)"
        : `esbuild failed: ${message}`;
      const result = {
        ok: false,
        problems: [{ file: null, line: null, column: null, message: problem, handler: null }],
      };
      // `fatal`: this process is of no more use; the server starts another for the next build.
      process.send!({ id: request.id, result, fatal: crashed }, () => {
        if (crashed) process.exit(0);
      });
    },
  );
});
process.on("disconnect", () => process.exit(0));
