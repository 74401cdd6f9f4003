// Values named in the runtime's error messages.
import { expect, it } from "vitest";
import { describeValue } from "../../runtime-api/describe-value";

it("names the kind, and shows short values as they were passed", () => {
  expect(describeValue("soon")).toBe('the string "soon"');
  expect(describeValue(42)).toBe("number 42");
  expect(describeValue(false)).toBe("boolean false");
  expect(describeValue(null)).toBe("null");
  expect(describeValue(undefined)).toBe("undefined");
  expect(describeValue([1])).toBe("an array");
  expect(describeValue({ a: 1 })).toBe("an object");
  expect(describeValue(() => 1)).toBe("a function");
});

it("does not show a long string, rather than cut it (a cut secret escapes redaction)", () => {
  const secret = "s".repeat(41);
  expect(describeValue(secret)).toBe("a string of 41 characters");
  expect(describeValue(secret)).not.toContain("s".repeat(5));
});
