// A tiny command-line MCP client: signs in to an MCP server protected by
// mcp-oauth-proxy and calls its `whoami` tool.
//
//   npm run demo -- --serve                       # in another terminal
//   npx tsx examples/cli-client/index.ts          # signs in once, then reuses the stored tokens
//
// Options:
//   --server URL    MCP endpoint (default http://127.0.0.1:8080/mcp, the demo)
//   --store DIR     folder for the encrypted token files (default: the user's config folder)
//   --sign-out      forget the stored tokens of the server and exit
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { FileTokenStore, OAuthClient } from "mcp-oauth-proxy/client";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "http://127.0.0.1:8080/mcp" },
    store: { type: "string" },
    "sign-out": { type: "boolean", default: false },
  },
});

async function main(): Promise<void> {
  const serverUrl = new URL(values.server);
  const store = new FileTokenStore(values.store === undefined ? {} : { directory: values.store });
  const oauth = new OAuthClient({ serverUrl, clientName: "mcp-oauth-proxy CLI example", store });

  if (values["sign-out"]) {
    await oauth.signOut();
    console.log(`Signed out of ${serverUrl.href}.`);
    return;
  }

  // authProvider gives the SDK a token before each request, and fetch
  // handles the server's 401 and 403 challenges, including step-up.
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: oauth, fetch: oauth.fetch });
  const client = new Client({ name: "mcp-oauth-proxy-cli-example", version: "1.0.0" });
  try {
    await client.connect(transport);
    const result = await client.callTool({ name: "whoami", arguments: {} });
    const content = (result.content ?? []) as Array<{ type: string; text?: string }>;
    console.log(content.map((item) => item.text ?? "").join("\n"));
  } finally {
    await client.close();
    await oauth.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exitCode = 1;
});
