/// <reference lib="dom" />
/**
 * The page's only way to make elements: strings become text nodes, never markup, so nothing
 * read from the database can turn into HTML. No inline style either (the CSP forbids it).
 */

type Child = Node | string | number | null | undefined | false | Child[];

interface Props {
  readonly [attribute: string]: string | number | boolean | null | undefined | EventHandlers;
  readonly on?: EventHandlers;
}
type EventHandlers = { readonly [event: string]: (event: Event) => void };

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) for (const each of child) append(parent, each);
  else parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
}

function apply(node: Element, props: Props): void {
  for (const [name, value] of Object.entries(props)) {
    if (name === "on") {
      for (const [event, handler] of Object.entries(value as EventHandlers)) node.addEventListener(event, handler);
    } else if (name === "style" || name.startsWith("on")) {
      throw new Error(`attribute ${name} is not allowed`);
    } else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  apply(node, props);
  append(node, children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag: string, props: Props = {}, ...children: Child[]): SVGElement {
  const node = document.createElementNS(SVG, tag);
  apply(node, props);
  append(node, children);
  return node;
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** The most of a cut text its title (tooltip) carries. */
const TITLE_MAX = 2_000;

/** Unicode's bidirectional controls: marks, embeddings, overrides, isolates. */
const BIDI_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from the database, shown so it cannot lie about or break what is around it: isolated
 * (`<bdi>`: a right-to-left override inside cannot reorder "(id 4)" beside it), its bidirectional
 * controls shown as `⟦U+202E⟧` rather than obeyed (so "invoice‮exe.pdf" does not read as a
 * ".pdf"), and cut at `max` characters, the start of the whole in its title.
 */
export function stored(text: string, max: number, className = ""): HTMLElement {
  const shown = text.replace(
    BIDI_CONTROLS,
    (c) => `⟦U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}⟧`,
  );
  const chars = [...shown];
  const cut = chars.length > max;
  return h(
    "bdi",
    { class: `stored ${className}`.trim(), title: cut ? chars.slice(0, TITLE_MAX).join("") : null },
    cut ? `${chars.slice(0, max).join("")}…` : shown,
  );
}
