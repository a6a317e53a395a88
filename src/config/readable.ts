import { readFileSync, statSync } from "node:fs";

/**
 * Why a file named by a setting cannot be read now (ENOENT, EACCES, EISDIR), or null: checked at
 * start so that a wrong path is a configuration error (exit 2) rather than a connection failure.
 */
export function unreadable(path: string): string | null {
  try {
    if (statSync(path).isDirectory()) return "EISDIR";
    readFileSync(path);
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}
