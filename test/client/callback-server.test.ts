import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { CallbackServer, OAuthClientError } from "../../lib/client/index.js";
import { isListening } from "./browser-step.js";

const expectations = { state: "expected-state", issuer: "http://127.0.0.1:4000", issuerRequired: true, timeoutMs: 5_000 };

describe("CallbackServer", () => {
  it("returns the code and shows the success page", async () => {
    const server = await CallbackServer.start();
    const code = server.waitForCode(expectations);

    const page = await fetch(`${server.redirectUri}?code=abc&state=expected-state&iss=${encodeURIComponent("http://127.0.0.1:4000/")}`);

    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(await page.text()).toContain("You can close this tab");
    expect(await code).toBe("abc");
    expect(await isListening(server.port)).toBe(false);
  });

  it("ignores other paths such as the favicon", async () => {
    const server = await CallbackServer.start({ path: "/oauth/done" });
    const code = server.waitForCode(expectations);

    const favicon = await fetch(new URL("/favicon.ico", server.redirectUri));
    const page = await fetch(`${server.redirectUri}?code=xyz&state=expected-state&iss=http://127.0.0.1:4000`);

    expect(favicon.status).toBe(404);
    expect(page.status).toBe(200);
    expect(await code).toBe("xyz");
  });

  it("escapes the error description on the page", async () => {
    const server = await CallbackServer.start();
    const code = server.waitForCode(expectations);
    code.catch(() => undefined);

    const page = await fetch(`${server.redirectUri}?state=expected-state&iss=http://127.0.0.1:4000&error=invalid_scope&error_description=${encodeURIComponent("<script>x</script>")}`);

    const body = await page.text();
    expect(page.status).toBe(400);
    expect(body).not.toContain("<script>");
    expect(body).toContain("&#60;script&#62;");
    await expect(code).rejects.toMatchObject({ code: "ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR", oauthError: "invalid_scope" });
  });

  it("rejects a response without code or error", async () => {
    const server = await CallbackServer.start();
    const code = server.waitForCode({ ...expectations, issuerRequired: false });
    code.catch(() => undefined);

    const page = await fetch(`${server.redirectUri}?state=expected-state`);

    expect(page.status).toBe(400);
    await expect(code).rejects.toMatchObject({ code: "ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR", message: expect.stringContaining("neither a code nor an error") });
  });

  it("accepts a missing iss when the server does not promise one", async () => {
    const server = await CallbackServer.start();
    const code = server.waitForCode({ ...expectations, issuerRequired: false });

    await fetch(`${server.redirectUri}?code=abc&state=expected-state`);

    expect(await code).toBe("abc");
  });

  it("answers 409 when no sign-in is waiting", async () => {
    const server = await CallbackServer.start();

    const page = await fetch(`${server.redirectUri}?code=abc&state=s`);

    expect(page.status).toBe(409);
    expect(await page.text()).toContain("No sign-in in progress");
    await server.close();
    await server.close();
    expect(await isListening(server.port)).toBe(false);
  });

  it("fails with a readable error when the port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const failure = await CallbackServer.start({ port }).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(OAuthClientError);
      expect((failure as OAuthClientError).code).toBe("ERR_MCP_OAUTH_CLIENT_CALLBACK_SERVER");
      expect((failure as OAuthClientError).message).toBe(`The sign-in callback server could not listen on 127.0.0.1:${port}: EADDRINUSE. Choose another callbackPort, or 0 for any free port.`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
