/** Type oids for array parameters: postgres.js cannot infer an element type from a JS array. */
export const BOOL = 16;
export const INT4 = 23;
export const TEXT = 25;
export const FLOAT8 = 701;
