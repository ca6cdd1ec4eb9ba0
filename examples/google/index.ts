// Sign-in with Google in front of an MCP server.
//
//   GOOGLE_CLIENT_ID=... GOOGLE_CLIENT_SECRET=... npx tsx examples/google/index.ts
//
// Create an OAuth client of type "Web application" as docs/providers/google.md
// describes and add http://localhost:3000/oauth/callback to its authorized redirect
// URIs. Optional: GOOGLE_HOSTED_DOMAIN to admit one Workspace domain only, BASE_URL
// and PORT for another address, MCP_OAUTH_SECRET to keep tokens valid across restarts.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import type { Request, Response } from "express";
import { GoogleProvider, oauthProxy } from "mcp-oauth-proxy";

const REQUIRED = {
  GOOGLE_CLIENT_ID: "the Client ID of the OAuth client (Google Cloud console, APIs & Services, Credentials)",
  GOOGLE_CLIENT_SECRET: "the Client secret of the same OAuth client",
};

const missing = Object.keys(REQUIRED).filter((name) => !process.env[name]);
if (missing.length > 0) {
  console.error(`Missing environment variables: ${missing.join(", ")}.\n`);
  for (const name of missing) {
    console.error(`  ${name}: ${REQUIRED[name as keyof typeof REQUIRED]}`);
  }
  console.error("\nThis example signs users in at Google, so it needs a real OAuth client; docs/providers/google.md shows how to create one.");
  process.exit(1);
}

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${port}`;

const provider = new GoogleProvider({
  clientId: process.env.GOOGLE_CLIENT_ID as string,
  clientSecret: process.env.GOOGLE_CLIENT_SECRET as string,
  ...(process.env.GOOGLE_HOSTED_DOMAIN ? { hostedDomain: process.env.GOOGLE_HOSTED_DOMAIN } : {}),
});
const proxy = oauthProxy({ baseUrl, provider, secret: process.env.MCP_OAUTH_SECRET, resourceName: "Google example MCP server" });

const app = express();
app.use(proxy);
app.all("/mcp", proxy.bearer(), express.json(), (req: Request, res: Response) => {
  serveMcp(req, res).catch((error: unknown) => {
    console.error("MCP request failed:", error);
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: "2.0", error: { code: -32603, message: "Internal error" }, id: null });
    }
  });
});

/** Serves one stateless MCP request with a `whoami` tool that returns the identity from the verified Google ID token. */
async function serveMcp(req: Request, res: Response): Promise<void> {
  const mcp = new McpServer({ name: "google-example", version: "1.0.0" });
  mcp.registerTool("whoami", { description: "Returns your Google account: subject, email and name." }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { subject: string; claims: Record<string, unknown> } | undefined;
    const { email, name } = upstream?.claims ?? {};
    return { content: [{ type: "text", text: JSON.stringify({ subject: upstream?.subject, email, name }) }] };
  });

  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void mcp.close();
  });
  await mcp.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

// Loads Google's signing keys once, so a network problem shows here rather than at the first sign-in.
await provider.ready();
app.listen(port, "127.0.0.1", () => {
  console.log(`MCP endpoint:        ${baseUrl}/mcp`);
  console.log(`Google redirect URI: ${proxy.callbackUrl} (add it to the OAuth client's authorized redirect URIs)`);
});
