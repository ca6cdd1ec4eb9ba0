import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../helpers/harness.js";
import { runSdkClientFlow } from "./sdk-flow.js";

describe.each([
  { hostSession: false, title: "without a host session" },
  { hostSession: true, title: "with the host app's own express-session" },
])("MCP SDK client on Express 5 $title", ({ hostSession }) => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ hostSession });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("signs in, calls a tool, refreshes and revokes", async () => {
    await runSdkClientFlow(harness, "alice");
  });

});

describe("host app's express-session next to the proxy", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ hostSession: true });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("keeps working across a sign-in", async () => {
    const first = await fetch(`${harness.baseUrl}/host/visits`);
    const cookie = (first.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(cookie).toMatch(/^connect\.sid=/);

    await runSdkClientFlow(harness, "bob");

    const second = await fetch(`${harness.baseUrl}/host/visits`, { headers: { cookie } });
    expect(await second.json()).toEqual({ visits: 2 });
  });

  it("sets the proxy cookie beside the host cookie", async () => {
    const client = await harness.register();
    const page = await fetch(harness.authorizeUrl(client.client_id));
    const cookies = page.headers.getSetCookie();
    expect(page.status).toBe(200);
    expect(cookies.some((cookie) => cookie.startsWith("mcp-oauth-proxy="))).toBe(true);
    expect(cookies.some((cookie) => cookie.startsWith("connect.sid="))).toBe(true);
  });
});
