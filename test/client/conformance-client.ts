// The client under test for the official MCP conformance suite's auth scenarios:
//
//   npx @modelcontextprotocol/conformance client --scenario auth/basic-dcr \
//     --command "npx tsx test/client/conformance-client.ts"
//
// The suite appends the URL of an MCP server it started on 127.0.0.1 and sets
// MCP_CONFORMANCE_SCENARIO (and, for pre-registration, MCP_CONFORMANCE_CONTEXT).
// Its authorization servers approve at once and redirect to the redirect URI,
// so the "browser" here only follows that redirect to the client's callback server.
//
// CONFORMANCE_CLIENT_MODE picks how OAuthClient is plugged into the SDK transport:
// "fetch" (the default) passes `fetch: oauth.fetch`, "provider" passes only
// `authProvider: oauth`, and "both" passes both.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { StreamableHTTPClientTransportOptions } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { MemoryTokenStore, OAuthClient } from "../../lib/client/index.js";

/** The CIMD URL the suite's auth/basic-cimd scenario expects as client_id. */
const CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json";

interface PreRegistrationContext {
  client_id?: string;
  client_secret?: string;
}

async function followRedirect(url: URL): Promise<void> {
  const authorization = await fetch(url, { redirect: "manual" });
  const location = authorization.headers.get("location");
  if (location === null) {
    throw new Error(`The authorization endpoint returned ${authorization.status} without a redirect`);
  }
  const callback = await fetch(new URL(location, url));
  await callback.text();
}

async function main(): Promise<void> {
  const serverUrl = process.argv[2];
  if (serverUrl === undefined) {
    throw new Error("Usage: conformance-client.ts <server-url>");
  }
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "";
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}") as PreRegistrationContext;
  const mode = process.env.CONFORMANCE_CLIENT_MODE ?? "fetch";

  const oauth = new OAuthClient({
    serverUrl,
    clientName: "mcp-oauth-proxy conformance client",
    store: new MemoryTokenStore(),
    clientMetadataUrl: CLIENT_METADATA_URL,
    ...(scenario === "auth/pre-registration" && context.client_id !== undefined
      ? { clientId: context.client_id, ...(context.client_secret === undefined ? {} : { clientSecret: context.client_secret }) }
      : {}),
    authorizationTimeout: 10,
    onAuthorizationUrl: followRedirect,
  });

  const options: StreamableHTTPClientTransportOptions = {};
  if (mode === "fetch" || mode === "both") {
    options.fetch = oauth.fetch;
  }
  if (mode === "provider" || mode === "both") {
    options.authProvider = oauth;
  }

  const client = new Client({ name: "mcp-oauth-proxy-conformance", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), options);
  try {
    await client.connect(transport);
    await client.listTools();
    await client.callTool({ name: "test-tool", arguments: {} });
  } finally {
    await transport.close();
    await oauth.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`conformance client failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
