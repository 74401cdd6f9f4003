// Settings from the environment: defaults, parsing, and refusals that name the setting.
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, loadSettings } from "../../src/config";

describe("loadSettings", () => {
  it("uses the defaults when nothing is set, and treats empty values as unset", () => {
    const settings = loadSettings({ ISOHOOK_TOKEN: "", ISOHOOK_PUBLIC_URL: "" });
    expect(settings).toMatchObject({
      host: "127.0.0.1",
      port: 9980,
      token: null,
      publicUrl: null,
      limits: DEFAULT_LIMITS,
    });
  });

  it("reads every limit from its variable, and flags win", () => {
    const settings = loadSettings(
      { ISOHOOK_MAX_BODY_BYTES: "1024", ISOHOOK_SESSION_CPU_MS: "250", ISOHOOK_PORT: "8080" },
      { port: 9000, limits: { maxRunning: 5 } },
    );
    expect(settings.port).toBe(9000);
    expect(settings.limits).toMatchObject({ maxBodyBytes: 1024, sessionCpuMs: 250, maxRunning: 5 });
  });

  it("refuses values that do not parse, naming the variable", () => {
    expect(() => loadSettings({ ISOHOOK_PORT: "eighty" })).toThrow(
      /ISOHOOK_PORT must be a whole number/,
    );
    expect(() => loadSettings({ ISOHOOK_MAX_RUNNING: "0" })).toThrow(/ISOHOOK_MAX_RUNNING/);
    expect(() => loadSettings({ ISOHOOK_ISOLATE_MEMORY_MB: "4" })).toThrow(/at least 8/);
    expect(() => loadSettings({ ISOHOOK_PUBLIC_URL: "not a url" })).toThrow(/absolute URL/);
  });

  it("refuses durations a timer cannot hold (over about 24.8 days)", () => {
    expect(() => loadSettings({ ISOHOOK_SESSION_TIMEOUT_MS: "3000000000" })).toThrow(
      /ISOHOOK_SESSION_TIMEOUT_MS must be a whole number from 1 to 2147483647/,
    );
    expect(loadSettings({ ISOHOOK_SYNC_TIMEOUT_MS: "2147483647" }).limits.syncTimeoutMs).toBe(
      2147483647,
    );
  });

  it("keeps sessions 30 days unless told otherwise, and refuses retentions that make no sense", () => {
    const DAY = 24 * 60 * 60 * 1000;
    expect(loadSettings({}).retentionMs).toBe(30 * DAY);
    expect(loadSettings({ ISOHOOK_RETENTION: "7d" }).retentionMs).toBe(7 * DAY);
    expect(loadSettings({ ISOHOOK_RETENTION: "7d" }, { retention: "12h" }).retentionMs).toBe(
      12 * 60 * 60 * 1000,
    );
    for (const forever of ["off", "0", "Forever"])
      expect(loadSettings({ ISOHOOK_RETENTION: forever }).retentionMs).toBeNull();
    expect(() => loadSettings({ ISOHOOK_RETENTION: "a while" })).toThrow(
      /ISOHOOK_RETENTION must be a duration of at least 1h/,
    );
    expect(() => loadSettings({ ISOHOOK_RETENTION: "10m" })).toThrow(/ISOHOOK_RETENTION/);
    expect(() => loadSettings({}, { retention: "-1d" })).toThrow(/--retention/);
  });
});
