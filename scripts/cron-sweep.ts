/**
 * The cron engine against the reference of test/support/cron-reference.ts, over many generated
 * cases: `bun scripts/cron-sweep.ts [--cases N] [--seed S]`. Prints the cases run, the
 * mismatches, and the first few of them; exits 1 when any.
 */
import { parseArgs } from "node:util";
import { sweep } from "../test/support/cron-compare.ts";

const { values } = parseArgs({
  options: { cases: { type: "string", default: "20000" }, seed: { type: "string", default: "1" } },
});
const cases = Number(values.cases);
const seed = Number(values.seed);
if (!Number.isInteger(cases) || cases < 1 || !Number.isInteger(seed)) {
  console.error("usage: bun scripts/cron-sweep.ts [--cases N] [--seed S]");
  process.exit(2);
}
const result = sweep(seed, cases);
console.log(`cases ${result.cases} seed ${seed} mismatches ${result.mismatches}`);
for (const mismatch of result.first) console.log(JSON.stringify(mismatch));
process.exit(result.mismatches === 0 ? 0 : 1);
