/**
 * Messages between the server and a sandbox process (IPC, structured clone). A sandbox process
 * holds the isolates of the deployments given to it; the server keeps everything else (HTTP,
 * SQLite, subscriptions, fetch, crypto). This is the server's view of `sandbox/index.ts`,
 * carried across a process boundary so that a crash of V8 costs only that process.
 */
import type {
  AsyncCallRecord,
  CallRecord,
  HostAnswer,
  JournalEntry,
  SandboxConfig,
  SessionEnd,
  StartRequest,
} from "../../sandbox";
import type { EqualityTerm } from "../subscriptions/equality-shortcut";

export interface DeploymentSpec {
  deploymentId: string;
  bundleCode: string;
  sourceMap: string;
  config: SandboxConfig;
  /** The project's trigger names, which `subscribe` accepts as sources. */
  triggers: string[];
  limits: {
    cpuMs: number;
    wallMs: number;
    memoryLimitMb: number;
    minIsolates: number;
    maxIsolates: number;
    maxSessionsPerIsolate: number;
  };
}

export type ToSandbox =
  | { type: "deploy"; spec: DeploymentSpec }
  | { type: "drain"; deploymentId: string }
  | { type: "close"; deploymentId: string; reason: string }
  | { type: "start"; deploymentId: string; request: StartRequest }
  | { type: "stop"; sessionId: string; reason: string }
  /** `cpuMs`: the host's own work for the session since its last answer, to be charged to it. */
  | { type: "settle"; sessionId: string; callId: number; answer: HostAnswer; cpuMs: number };

export type FromSandbox =
  | { type: "deployed"; deploymentId: string }
  | { type: "deploy_failed"; deploymentId: string; message: string }
  | { type: "drained"; deploymentId: string }
  | { type: "call"; sessionId: string; record: CallRecord }
  /**
   * A call the sandbox process answered itself (`subscribe`), for the server to act on and log.
   * `replayed`: made again in a durable session's replay, with the answer it had before.
   * `terms`: the filter's equality terms, when that is all it is (see `checkFilter`).
   */
  | {
      type: "host_call";
      sessionId: string;
      binding: "subscribe";
      args: [string, string | null];
      answer: HostAnswer;
      replayed: boolean;
      terms: EqualityTerm[] | null;
    }
  | { type: "async_call"; sessionId: string; record: AsyncCallRecord }
  /** A durable session was given an entry: for its journal. */
  | { type: "entry"; sessionId: string; entry: JournalEntry }
  | { type: "end"; sessionId: string; end: SessionEnd };

/** Messages travel in batches: one IPC write per turn of the sender's event loop. */
export interface Batch<T> {
  batch: T[];
}
