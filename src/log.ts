/**
 * The server's structured logger (pino): a fixed message plus fields. Readable lines when the
 * output is a terminal, JSON lines otherwise (for files and log collectors).
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export function createLogger(
  level: string,
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  const isTerminal = (destination as { isTTY?: boolean }).isTTY === true;
  const options = { level, base: undefined };
  if (!isTerminal) return pino(options, destination);
  return pino(
    options,
    pretty({
      destination,
      colorize: true,
      translateTime: "HH:MM:ss.l",
      ignore: "pid,hostname",
      sync: true,
    }),
  );
}

export type { Logger };
