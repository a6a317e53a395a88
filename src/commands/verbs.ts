/** The operator verbs, for src/main.ts to register in one line. */
export { default as backfill } from "./backfill.ts";
export { default as pause } from "./pause.ts";
export { default as resume } from "./resume.ts";
export { default as trigger } from "./trigger.ts";
