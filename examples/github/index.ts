// Sign-in with GitHub in front of an MCP server.
//
//   GITHUB_CLIENT_ID=... GITHUB_CLIENT_SECRET=... npx tsx examples/github/index.ts
//
// Create an OAuth App (or a GitHub App) as docs/providers/github.md describes and
// register http://localhost:3000/oauth/callback as its callback URL. Optional:
// GITHUB_BASE_URL for GitHub Enterprise Server, BASE_URL and PORT for another
// address, MCP_OAUTH_SECRET to keep tokens valid across restarts.
import express from "express";
import { GitHubProvider, oauthProxy } from "mcp-oauth-proxy";
import { mountMcpRoute, requireEnvironment } from "../shared/mcp-route.js";

const REQUIRED = {
  GITHUB_CLIENT_ID: "the Client ID on the app's settings page",
  GITHUB_CLIENT_SECRET: "a client secret generated on the app's settings page",
};

requireEnvironment(REQUIRED, "This example signs users in at GitHub, so it needs a real GitHub app; docs/providers/github.md shows how to create one.");

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

// One stateless MCP endpoint with a `whoami` tool that reads the caller's GitHub profile with their GitHub token.
mountMcpRoute(app, "/mcp", "github-example", [proxy.bearer()], (mcp) => {
  mcp.registerTool("whoami", { description: "Returns your GitHub login and name, read from the GitHub API with your token." }, async (extra) => {
    const upstream = extra.authInfo?.extra?.upstream as { accessToken: string } | undefined;
    const user = await fetch(`${provider.apiUrl}/user`, {
      headers: { authorization: `Bearer ${upstream?.accessToken ?? ""}`, accept: "application/vnd.github+json", "user-agent": "mcp-oauth-proxy-example" },
    });
    const text = user.ok ? JSON.stringify(await user.json(), ["login", "id", "name", "html_url"]) : `GitHub responded with ${user.status}`;
    return { isError: !user.ok, content: [{ type: "text", text }] };
  });
});

// Checks the GitHub API once, so a wrong GITHUB_BASE_URL fails here rather than at the first sign-in.
await provider.ready();
app.listen(port, "127.0.0.1", () => {
  console.log(`MCP endpoint:       ${baseUrl}/mcp`);
  console.log(`GitHub callback URL: ${proxy.callbackUrl} (register it on the app's settings page)`);
});
