/// <reference lib="dom" />
/** How times, durations and counts read on the page: UTC, to the second, with "in 3m" / "5m ago". */
import { duration, type Instant } from "../contract.ts";

export function utc(ms: Instant): string {
  if (ms === null) return "never";
  if (typeof ms === "string") return ms;
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)} UTC`;
}

export function relative(ms: Instant, nowMs: number): string {
  if (ms === null || typeof ms === "string") return "";
  const seconds = (ms - nowMs) / 1000;
  if (Math.abs(seconds) < 1) return "now";
  return seconds > 0 ? `in ${duration(seconds)}` : `${duration(seconds)} ago`;
}

export const count = (n: number): string => n.toLocaleString("en");

export function bytes(n: number | null): string {
  if (n === null) return "none";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function lag(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;
}
