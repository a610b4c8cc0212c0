// Differential testing: random well-typed programs (all integer types, mixed signedness, shifts, division,
// branches, bounded loops, helper calls) are compiled and run in the BPF interpreter; their results must
// equal the generator's reference evaluation. The VM test runs the same corpus in the real kernel.
// UBPF_DIFF_N sets the number of programs (default 300), UBPF_DIFF_SEED the first seed.
import { describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics } from "../compiler/index";
import { runOnFakeRing } from "./support/fakering";
import { generateProgram } from "./support/progen";

const N = Number(process.env.UBPF_DIFF_N ?? 300);
const FIRST = Number(process.env.UBPF_DIFF_SEED ?? 1);

describe("differential: compiled programs vs the reference evaluator", () => {
  it(`${N} random programs from seed ${FIRST}`, () => {
    const failures: string[] = [];
    for (let seed = FIRST; seed < FIRST + N; seed++) {
      const g = generateProgram(seed);
      try {
        const res = compileSource(`gen${seed}.ts`, g.source, { typeCheck: seed % 10 === 0 });
        if (!res.ok) {
          failures.push(`seed ${seed}: compile error\n${formatDiagnostics(res.diagnostics)}`);
          continue;
        }
        const r = runOnFakeRing(res);
        for (const [k, v] of Object.entries(g.expected)) {
          if (r.get(k) !== v) {
            failures.push(`seed ${seed}: ${k} = ${r.get(k)}, expected ${v}`);
            break;
          }
        }
      } catch (e) {
        failures.push(`seed ${seed}: crash: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
