import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { Harness, TokenBody } from "../helpers/harness.js";
import { startTappedHarness } from "../helpers/upstream-tap.js";
import type { TappedHarness, UpstreamTap } from "../helpers/upstream-tap.js";

/** A verifier with valid RFC 7636 syntax that does not match the test challenge. */
const WRONG_VERIFIER = "A".repeat(43);

let tapped: TappedHarness;
let harness: Harness;
let tap: UpstreamTap;
let revocationPath: string;

beforeAll(async () => {
  tapped = await startTappedHarness();
  harness = tapped.harness;
  tap = tapped.tap;
  revocationPath = new URL(tapped.discovery.revocation_endpoint).pathname;
});

afterAll(async () => {
  await tapped.close();
});

function basicCredentials(clientId: string, secret: string): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return `Basic ${Buffer.from(pair).toString("base64")}`;
}

function codeRequest(code: string, fields: Record<string, string> = {}): Record<string, string> {
  return { grant_type: "authorization_code", code, code_verifier: VERIFIER, redirect_uri: REDIRECT_URI, ...fields };
}

async function expectInvalidGrant(response: Response): Promise<void> {
  const body = await response.json() as Record<string, unknown>;

  expect(response.status, JSON.stringify(body)).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(body.error).toBe("invalid_grant");
  expect(body.access_token).toBeUndefined();
}

/** Signs in, redeems the code once, and returns the code with what the first redemption issued. */
async function redeemedOnce(): Promise<{ clientId: string; code: string; first: TokenBody }> {
  const client = await harness.register();
  const { code } = await harness.signIn(client.client_id);
  const response = await harness.token(codeRequest(code, { client_id: client.client_id }));
  expect(response.status).toBe(200);
  const first = await response.json() as TokenBody;
  expect((await harness.callMcp(`Bearer ${first.access_token}`)).status).toBe(200);
  return { clientId: client.client_id, code, first };
}

function refresh(clientId: string, refreshToken: string): Promise<Response> {
  return harness.token({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId });
}

/** Returns the refresh token of the upstream's latest successful token response. */
function latestUpstreamRefreshToken(): string {
  const exchange = tap.tokenRequests().filter((candidate) => candidate.status === 200).at(-1);
  return (JSON.parse(exchange?.responseBody ?? "{}") as Record<string, string>).refresh_token ?? "";
}

describe("code replay", () => {
  it("right verifier revokes the first tokens", async () => {
    const { clientId, code, first } = await redeemedOnce();
    const upstreamRefreshToken = latestUpstreamRefreshToken();
    const before = tap.postsTo(revocationPath).length;

    await expectInvalidGrant(await harness.token(codeRequest(code, { client_id: clientId })));

    const mcp = await harness.callMcp(`Bearer ${first.access_token}`);
    expect(mcp.status).toBe(401);
    expect(mcp.headers.get("www-authenticate")).toContain('error="invalid_token"');
    await expectInvalidGrant(await refresh(clientId, first.refresh_token));
    // The upstream grant behind the stolen code ends too.
    const revoked = tap.postsTo(revocationPath).slice(before);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]?.form.token).toBe(upstreamRefreshToken);
  });

  it("wrong verifier keeps the first tokens", async () => {
    const { clientId, code, first } = await redeemedOnce();
    const before = tap.postsTo(revocationPath).length;

    await expectInvalidGrant(await harness.token(codeRequest(code, { client_id: clientId, code_verifier: WRONG_VERIFIER })));

    expect((await harness.callMcp(`Bearer ${first.access_token}`)).status).toBe(200);
    expect((await refresh(clientId, first.refresh_token)).status).toBe(200);
    expect(tap.postsTo(revocationPath).slice(before)).toHaveLength(0);
  });

  it("client B cannot redeem client A's code", async () => {
    const owner = await harness.register();
    const publicOther = await harness.register();
    const confidentialOther = await harness.register({ token_endpoint_auth_method: "client_secret_basic" });
    const { code } = await harness.signIn(owner.client_id);

    // Both attempts carry the right verifier, as a client that intercepted the whole redirect would.
    await expectInvalidGrant(await harness.token(codeRequest(code, { client_id: publicOther.client_id })));
    await expectInvalidGrant(await harness.token(codeRequest(code), {
      authorization: basicCredentials(confidentialOther.client_id, confidentialOther.client_secret as string),
    }));
  });

  it("client B's replay leaves client A's tokens", async () => {
    const { clientId, code, first } = await redeemedOnce();
    const other = await harness.register();
    const before = tap.postsTo(revocationPath).length;

    await expectInvalidGrant(await harness.token(codeRequest(code, { client_id: other.client_id })));

    // Only a replay by the code's own client with its verifier proves theft, because anyone else could be guessing.
    expect((await harness.callMcp(`Bearer ${first.access_token}`)).status).toBe(200);
    expect((await refresh(clientId, first.refresh_token)).status).toBe(200);
    expect(tap.postsTo(revocationPath).slice(before)).toHaveLength(0);
  });
});
