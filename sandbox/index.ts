/**
 * What the server may use of the sandbox. The server never touches isolated-vm or the
 * runtime directly: it starts sessions here and hears back through a `SessionObserver`.
 */
export { DeploymentSandbox, type DeploymentSandboxOptions } from "./deployment-sandbox";
export type { DurableStart, JournalEntry, RecordedHostCall, ReplayEntry } from "./replay";
export type {
  HostReply,
  SessionEnd,
  SessionFailure,
  SessionObserver,
  StartRequest,
} from "./session";
export type { SandboxSession } from "./session";
export type * from "./protocol";
