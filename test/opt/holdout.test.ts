// The middle end's holdout: every program fixture, every loop fixture and a corpus of generated programs
// compute the same globals with every prefix of the pass pipeline (no passes, the first pass, the first
// two, ... all of them) in the userspace engine, and the generated programs what their reference
// evaluation says. A pass that changes a result fails here, with the pass named.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileEveryPrefix, compileSource, formatDiagnostics } from "../../compiler/index";
import { PIPELINE } from "../../compiler/opt/pipeline";
import { runOnFakeRing } from "../support/fakering";
import { generateProgram } from "../support/progen";

const N = Number(process.env.UBPF_HOLDOUT_N ?? 40);
/** 10^6 iterations take the engine 9 s a run (19 runs here); config-1000.ts is the same loop shape. */
const SLOW = new Set(["config-1e6.ts"]);

function globalsOf(res: ReturnType<typeof compileSource>, names: string[]): Record<string, string> {
  const sim = runOnFakeRing(res, { mem: 4096, maxSteps: 100 });
  const out: Record<string, string> = {};
  for (const n of names) out[n] = String(sim.get(n));
  return out;
}

function checkPrefixes(file: string, text: string, expected?: Record<string, bigint>): string[] {
  const results = compileEveryPrefix(file, text, { typeCheck: false });
  const problems: string[] = [];
  for (const r of results) if (!r.ok) return [`${file}: ${formatDiagnostics(r.diagnostics)}`];
  const names = results[0].module!.globals.filter((g) => !g.name.startsWith("uringbpf_") && g.section !== ".rodata").map((g) => g.name);
  const base = globalsOf(results[0], names);
  if (expected) for (const [k, v] of Object.entries(expected)) if (base[k] !== String(v)) problems.push(`${file}: without passes ${k} = ${base[k]}, expected ${v}`);
  results.forEach((r, k) => {
    if (k === 0) return;
    const got = globalsOf(r, names);
    for (const n of names) if (got[n] !== base[n]) problems.push(`${file}: after ${PIPELINE[k - 1].name} (pass ${k}) ${n} = ${got[n]}, without passes ${base[n]}`);
  });
  return problems;
}

describe("every prefix of the pipeline computes the same", () => {
  for (const dir of ["programs", "loops"]) {
    const root = path.join(__dirname, "..", "fixtures", dir);
    it(`test/fixtures/${dir}`, () => {
      const problems: string[] = [];
      for (const f of fs.readdirSync(root).filter((x) => x.endsWith(".ts") && !SLOW.has(x)).sort()) problems.push(...checkPrefixes(f, fs.readFileSync(path.join(root, f), "utf8")));
      expect(problems).toEqual([]);
    }, 600_000);
  }
  it(`${N} generated programs`, () => {
    const problems: string[] = [];
    for (let seed = 1000; seed < 1000 + N; seed++) {
      const g = generateProgram(seed);
      problems.push(...checkPrefixes(`gen${seed}.ts`, g.source, g.expected));
    }
    expect(problems).toEqual([]);
  }, 600_000);
});
