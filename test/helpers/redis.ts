import { randomBytes } from "node:crypto";

/** The Redis every storage test uses; `.ci/run` starts it when it is not running. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix unique to one test run, so runs never see each other's keys. */
export function redisKeyPrefix(name: string): string {
  return `mcp-oauth-proxy-test:${name}:${randomBytes(6).toString("hex")}:`;
}
