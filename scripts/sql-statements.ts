/**
 * Splits SQL text into its statements at the semicolons PostgreSQL would end them at: not inside
 * a string ('…', E'…' with backslash escapes), a quoted identifier ("…"), a dollar-quoted body
 * ($$…$$, $tag$…$tag$) or a comment (-- …, nested /* … *\/). Pure; the try script runs each one
 * on its own so it can report each one's own result, which one multi-statement query cannot.
 */

/** The statements of `text`, each trimmed, without empty or comment-only ones. */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let code = false;
  let i = 0;
  const end = (at: number) => {
    if (code) statements.push(text.slice(start, at).trim());
    start = at + 1;
    code = false;
  };
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "-" && next === "-") {
      const eol = text.indexOf("\n", i);
      i = eol === -1 ? text.length : eol + 1;
    } else if (c === "/" && next === "*") {
      i = blockCommentEnd(text, i);
    } else if (c === "'") {
      const escapes = /[eE]/.test(text[i - 1] ?? "") && !/[\w$]/.test(text[i - 2] ?? "");
      i = quotedEnd(text, i, "'", escapes);
      code = true;
    } else if (c === '"') {
      i = quotedEnd(text, i, '"', false);
      code = true;
    } else if (c === "$" && !/[\w$]/.test(text[i - 1] ?? "")) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? text.length : close + tag[0].length;
      } else i += 1;
      code = true;
    } else if (c === ";") {
      end(i);
      i += 1;
    } else {
      if (!/\s/.test(c)) code = true;
      i += 1;
    }
  }
  end(text.length);
  return statements;
}

/** The index after the quote that closes the one at `open`; a doubled quote (or, with escapes, \x) stays inside. */
function quotedEnd(text: string, open: number, quote: string, escapes: boolean): number {
  let i = open + 1;
  while (i < text.length) {
    if (escapes && text[i] === "\\") i += 2;
    else if (text[i] === quote && text[i + 1] === quote) i += 2;
    else if (text[i] === quote) return i + 1;
    else i += 1;
  }
  return text.length;
}

/** The index after the block comment opened at `open`; PostgreSQL's block comments nest. */
function blockCommentEnd(text: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < text.length) {
    if (text[i] === "/" && text[i + 1] === "*") {
      depth += 1;
      i += 2;
    } else if (text[i] === "*" && text[i + 1] === "/") {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else i += 1;
  }
  return text.length;
}
