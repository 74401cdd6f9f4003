// The address check behind fetch: which addresses count as public, which hosts are allowed.
// Unit tests only: nothing here sends a packet anywhere.
import { describe, expect, it } from "vitest";
import { allowNetEntryProblem, hostAllowed, isPublicAddress } from "../../src/bindings/net-policy";
import { parseManifest } from "../../src/deploy/manifest";

describe("isPublicAddress", () => {
  it.each([
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "192.168.255.255",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::",
    "::1",
    "fc00::1",
    "fd00:1234::1",
    "fe80::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "[::1]",
    "::7f00:1",
    "::808:808",
    "not an address",
    "",
  ])("refuses %s", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "172.15.255.255",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
  ])("accepts %s", (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe("hostAllowed", () => {
  const allow = [
    "api.github.com",
    "hooks.slack.com:443",
    "*.example.com",
    "[2606:4700::1111]",
    "8.8.8.8:8443",
  ];

  it.each([
    ["https://api.github.com/repos", true],
    ["http://API.GITHUB.COM:8080/", true],
    ["https://hooks.slack.com/x", true],
    ["http://hooks.slack.com/x", false],
    ["https://a.example.com/", true],
    ["https://deep.a.example.com/", true],
    ["https://example.com/", false],
    ["https://evil-example.com/", false],
    ["https://api.github.com.evil.com/", false],
    ["https://[2606:4700:0:0::1111]/", true],
    ["https://8.8.8.8:8443/", true],
    ["https://8.8.8.8/", false],
  ])("%s → %s", (url, expected) => {
    expect(hostAllowed(new URL(url), allow)).toBe(expected);
  });

  it("allows nothing when allow_net is empty", () => {
    expect(hostAllowed(new URL("https://api.github.com/"), [])).toBe(false);
  });
});

describe("wildcards", () => {
  it("match names under the domain, never an address", () => {
    const allow = ["*.example.com"];
    expect(hostAllowed(new URL("https://api.example.com/"), allow)).toBe(true);
    expect(hostAllowed(new URL("https://example.com/"), allow)).toBe(false);
    // Entries the deploy refuses, should one be stored: still no address matches.
    expect(hostAllowed(new URL("http://127.0.0.1:9952/"), ["*.0.0.1:9952"])).toBe(false);
    expect(hostAllowed(new URL("http://0x7f.1:9952/"), ["*.0.0.1:9952"])).toBe(false);
    expect(hostAllowed(new URL("http://10.0.0.1/"), ["*.0.0.1"])).toBe(false);
  });
});

describe("allowNetEntryProblem", () => {
  it("takes host names, host:port, *.domain and IP addresses", () => {
    for (const entry of [
      "api.github.com",
      "hooks.slack.com:443",
      "*.example.com",
      "localhost",
      "203.0.113.7",
      "203.0.113.7:8443",
      "[2001:db8::1]",
      "[2001:db8::1]:443",
      "xn--bcher-kva.example",
    ])
      expect(allowNetEntryProblem(entry), entry).toBeNull();
  });

  it("names what is wrong with anything else", () => {
    expect(allowNetEntryProblem("http://127.0.0.1:9962/path")).toBe(
      'must be a host, not a URL: write "127.0.0.1:9962"',
    );
    expect(allowNetEntryProblem("https://api.github.com")).toBe(
      'must be a host, not a URL: write "api.github.com"',
    );
    for (const entry of ["", "*.", "a b", "-bad.example", "exa_mple.com", "api.github.com/x"])
      expect(allowNetEntryProblem(entry), entry).toBe(
        "must be a host name, host:port, *.domain or an IP address",
      );
    expect(allowNetEntryProblem("localhost:99999")).toBe("has a port that is not from 1 to 65535");
    expect(allowNetEntryProblem("localhost:0")).toBe("has a port that is not from 1 to 65535");
    expect(allowNetEntryProblem("2001:db8::1")).toBe(
      "an IPv6 address goes in brackets: [2001:db8::1]:443",
    );
    expect(allowNetEntryProblem("[not:v6]")).toBe("is not a valid IPv6 address");
    expect(allowNetEntryProblem("*.10.0.0.1")).toBe("a wildcard goes before a domain name only");
    expect(allowNetEntryProblem("*.0.0.1:9952")).toBe("a wildcard goes before a domain name only");
    expect(allowNetEntryProblem("*.8.8")).toBe("a wildcard goes before a domain name only");
    expect(allowNetEntryProblem("2130706433:9953")).toBe(
      "an IPv4 address is written as four numbers: 203.0.113.7",
    );
    expect(allowNetEntryProblem("127.1")).toBe(
      "an IPv4 address is written as four numbers: 203.0.113.7",
    );
  });

  it("is checked at deploy, at the entry's line and column", () => {
    const result = parseManifest(
      [
        "version: v2",
        "project:",
        "  name: nets",
        '  allow_net: [api.github.com, "http://127.0.0.1:9962"]',
        "  triggers:",
        "    - name: api",
        "      type: webhook",
      ].join("\n"),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.objectContaining({
        line: 4,
        column: 31,
        message: expect.stringContaining('must be a host, not a URL: write "127.0.0.1:9962"'),
      }),
    ]);
  });
});
