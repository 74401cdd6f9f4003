// The address check behind fetch: which addresses count as public, which hosts are allowed.
// Unit tests only: nothing here sends a packet anywhere.
import { describe, expect, it } from "vitest";
import { hostAllowed, isPublicAddress } from "../../src/bindings/net-policy";

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
