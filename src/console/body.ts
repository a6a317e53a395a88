/**
 * An action's JSON body, read no further than {@link MAX_BODY_BYTES}: a declared length over it
 * is refused before anything is read, and a body without one (chunked) is read chunk by chunk and
 * cut off the moment it passes the bound, so no body costs more memory than the bound.
 */
import { MAX_BODY_BYTES } from "./contract.ts";
import { BadRequest } from "./respond.ts";

const tooLarge = () => new BadRequest(`the body is larger than ${MAX_BODY_BYTES} bytes`, 413);

export async function readJsonBody(request: Request): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= MAX_BODY_BYTES)) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest("the body is not valid JSON");
  }
}
