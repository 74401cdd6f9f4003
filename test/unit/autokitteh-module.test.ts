// The `autokitteh` module as projects import it: every name the runtime has, and nothing else.
import { describe, expect, it } from "vitest";
import { bundleProject } from "../../src/deploy/bundle";

const HANDLERS = [{ key: "h0", trigger: "api", file: "program.ts", exportName: "handle" }];
const bundle = (program: string) =>
  bundleProject(new Map([["program.ts", Buffer.from(program)]]), HANDLERS);

describe("the autokitteh module", () => {
  it("fails the build at an import of a name it does not have", async () => {
    const result = await bundle(
      'import { http_outcome, sleep } from "autokitteh";\nexport function handle() { sleep(1); http_outcome(); }\n',
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.objectContaining({
        file: "program.ts",
        line: 1,
        column: 24,
        message: expect.stringMatching(/No matching export in "autokitteh" for import "sleep"/),
      }),
    ]);
  });

  it("fails the build at a namespace member it does not have", async () => {
    const result = await bundle(
      'import * as ak from "autokitteh";\nexport function handle() { return ak.sleep(2); }\n',
    );
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.problems[0]).toMatchObject({
        file: "program.ts",
        line: 2,
        message: expect.stringMatching(/"sleep" will always be undefined/),
      });
  });

  it("can be imported by name, as a namespace, by default, or for its types only", async () => {
    for (const program of [
      'import { getenv, type Event } from "autokitteh";\nexport function handle(e: Event) { return getenv("X"); }',
      'import * as ak from "autokitteh";\nexport function handle() { return ak.getenv("X"); }',
      'import ak from "autokitteh";\nexport function handle() { return ak.getenv("X"); }',
      'import type { Event } from "autokitteh";\nexport function handle(e: Event) { return 1; }',
    ])
      expect((await bundle(program)).ok, program).toBe(true);
  });
});

it("names a project's own module by its file in a build error", async () => {
  const result = await bundleProject(
    new Map([
      [
        "program.ts",
        Buffer.from(
          'import { helpr } from "./util";\nexport function handle() { return helpr(); }\n',
        ),
      ],
      ["util.ts", Buffer.from("export function helper() { return 1; }\n")],
    ]),
    HANDLERS,
  );
  expect(result.ok).toBe(false);
  if (!result.ok)
    expect(result.problems[0]!.message).toBe('No matching export in "util.ts" for import "helpr"');
});
