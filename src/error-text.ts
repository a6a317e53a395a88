/**
 * The text of anything thrown: its `message` when it has one (an Error, or a plain object
 * shaped like one, as some drivers reject with), else its string form.
 */
export function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : String(error);
}
