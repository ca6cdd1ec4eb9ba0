// Sign-in with GitHub in front of an MCP server.
//
//   GITHUB_CLIENT_ID=... GITHUB_CLIENT_SECRET=... npx tsx examples/github/index.ts
//
// Create an OAuth App (or a GitHub App) as docs/providers/github.md describes and
// register http://localhost:3000/oauth/callback as its callback URL. Optional:
// GITHUB_BASE_URL for GitHub Enterprise Server, BASE_URL and PORT for another
// address, MCP_OAUTH_SECRET to keep tokens valid across restarts.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import type { Request, Response } from "express";
import { GitHubProvider, oauthProxy } from "mcp-oauth-proxy";

const REQUIRED = {
  GITHUB_CLIENT_ID: "the Client ID on the app's settings page",
  GITHUB_CLIENT_SECRET: "a client secret generated on the app's settings page",
};

const missing = Object.keys(REQUIRED).filter((name) => !process.env[name]);
if (missing.length > 0) {
  console.error(`Missing environment variables: ${missing.join(", ")}.\n`);
  for (const name of missing) {
    console.error(`  ${name}: ${REQUIRED[name as keyof typeof REQUIRED]}`);
  }
  console.error("\nThis example signs users in at GitHub, so it needs a real GitHub app; docs/providers/github.md shows how to create one.");
  process.exit(1);
}

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${port}`;

const provider = new GitHubProvider({
  clientId: process.env.GITHUB_CLIENT_ID as string,
  clientSecret: process.env.GITHUB_CLIENT_SECRET as string,
  ...(process.env.GITHUB_BASE_URL ? { baseUrl: process.env.GITHUB_BASE_URL } : {}),
});
const proxy = oauthProxy({ baseUrl, provider, secret: process.env.MCP_OAUTH_SECRET, resourceName: "GitHub example MCP server" });

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

/** Serves one stateless MCP request with a `whoami` tool that reads the caller's GitHub profile with their GitHub token. */
async function serveMcp(req: Request, res: Response): Promise<void> {
  const mcp = new McpServer({ name: "github-example", version: "1.0.0" });
  mcp.registerTool("whoami", { description: "Returns your GitHub login and name, read from the GitHub API with your token." }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { accessToken: string } | undefined;
    const user = await fetch(`${provider.apiUrl}/user`, {
      headers: { authorization: `Bearer ${upstream?.accessToken ?? ""}`, accept: "application/vnd.github+json", "user-agent": "mcp-oauth-proxy-example" },
    });
    const text = user.ok ? JSON.stringify(await user.json(), ["login", "id", "name", "html_url"]) : `GitHub answered ${user.status}`;
    return { isError: !user.ok, content: [{ type: "text", text }] };
  });

  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void mcp.close();
  });
  await mcp.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

// Checks the GitHub API once, so a wrong GITHUB_BASE_URL fails here rather than at the first sign-in.
await provider.ready();
app.listen(port, "127.0.0.1", () => {
  console.log(`MCP endpoint:       ${baseUrl}/mcp`);
  console.log(`GitHub callback URL: ${proxy.callbackUrl} (register it on the app's settings page)`);
});
