/** The exit-code contract of every command (docs/commands.md, "Exit codes"). */
export const EXIT = { ok: 0, failed: 1, badConfig: 2 } as const;
