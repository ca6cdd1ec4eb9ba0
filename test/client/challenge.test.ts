import { describe, expect, it } from "vitest";
import { parseBearerChallenge } from "../../lib/client/challenge.js";

describe("parseBearerChallenge", () => {
  const cases: Array<[string, string | null, ReturnType<typeof parseBearerChallenge>]> = [
    ["the proxy's challenge", 'Bearer scope="mcp:read", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp"', {
      scope: "mcp:read",
      resourceMetadata: "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp",
      error: undefined,
    }],
    ["an insufficient_scope error", 'Bearer error="insufficient_scope", scope="a b"', { scope: "a b", resourceMetadata: undefined, error: "insufficient_scope" }],
    ["a token value and a lower-case scheme", "bearer error=invalid_token", { scope: undefined, resourceMetadata: undefined, error: "invalid_token" }],
    ["an escaped quote", 'Bearer scope="say \\"hi\\""', { scope: 'say "hi"', resourceMetadata: undefined, error: undefined }],
    ["a Basic challenge first", 'Basic realm="x", Bearer scope="s"', { scope: "s", resourceMetadata: undefined, error: undefined }],
    ["a token68 challenge first", "Negotiate abc==, Bearer scope=s", { scope: "s", resourceMetadata: undefined, error: undefined }],
    ["no Bearer challenge", 'Basic realm="x"', undefined],
    ["no header", null, undefined],
  ];

  for (const [name, header, expected] of cases) {
    it(`reads ${name}`, () => {
      expect(parseBearerChallenge(header)).toEqual(expected);
    });
  }
});
