#!/usr/bin/env node
// The `isohook` command. `serve` loads isolated-vm, which needs Node started with
// --no-node-snapshot; when this process was not, it runs itself again with the flag and
// passes the exit code through. The other commands only talk HTTP and start as they are.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const FLAG = "--no-node-snapshot";

if (process.argv[2] === "serve" && !process.execArgv.includes(FLAG)) {
  const self = fileURLToPath(import.meta.url);
  // The child watches this pid: if this process is killed outright, the server stops too.
  const child = spawn(
    process.execPath,
    [...process.execArgv, FLAG, self, ...process.argv.slice(2)],
    {
      stdio: "inherit",
      env: { ...process.env, ISOHOOK_PARENT_PID: String(process.pid) },
    },
  );
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  try {
    await import("../dist/main.js");
  } catch (error) {
    if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/main.js")) {
      console.error("isohook is not built yet: run `npm run build` (npm install does it too)");
      process.exit(1);
    }
    throw error;
  }
}
