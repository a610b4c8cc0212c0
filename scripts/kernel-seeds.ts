// Random programs in the real kernel, more than CI runs (issue 9's "what uringbpf accepts, the verifier
// accepts"): compiles the programs test/support/progen.ts generates for a range of seeds, loads and runs
// each in one boot of the 7.x VM, and compares the globals with the generator's reference evaluator.
//   npx tsx scripts/kernel-seeds.ts [--from 100001] [--count 2000] [--loops maygoto|iterator]
// Prints one line per refused or mismatching seed and a summary; exits 1 if there is any.
import { compileSource, formatDiagnostics } from "../compiler/index";
import { runInVm, type VmCase } from "../runtime/vm/vm";
import { generateProgram } from "../test/support/progen";

function arg(name: string, fallback: string): string {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 && process.argv[k + 1] ? process.argv[k + 1] : fallback;
}

async function main(): Promise<void> {
  const from = Number(arg("from", "100001"));
  const count = Number(arg("count", "2000"));
  const loops = arg("loops", "maygoto") as "maygoto" | "iterator";
  const chunk = 100;
  const expected = new Map<number, Record<string, bigint>>();
  const cases: VmCase[] = [];
  const t0 = Date.now();
  for (let c = 0; c < count; c += chunk) {
    const files: VmCase["files"] = [];
    const cmds: string[] = [];
    for (let seed = from + c; seed < from + Math.min(count, c + chunk); seed++) {
      const g = generateProgram(seed);
      const res = compileSource(`gen${seed}.ts`, g.source, { typeCheck: false, loops });
      if (!res.ok) throw new Error(`seed ${seed}: ${formatDiagnostics(res.diagnostics)}`);
      expected.set(seed, g.expected);
      files.push({ guestPath: `gen/${seed}.o`, data: res.object! });
      cmds.push(`echo "@@SEED ${seed}"; uringbpf-loader gen/${seed}.o 2>&1 | tail -1`);
    }
    cases.push({ id: `seeds-${from + c}`, command: cmds.join("\n"), files, timeoutSec: 3600 });
  }
  console.log(`compiled ${count} programs (seeds ${from}..${from + count - 1}, loops: ${loops}) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const run = await runInVm(cases, { timeoutMs: 4 * 3600_000 });
  let refused = 0;
  let mismatched = 0;
  let ran = 0;
  let insns = 0;
  let most = { seed: 0, insns: 0 };
  for (const c of run.cases) {
    for (const part of c.output.split("@@SEED ").slice(1)) {
      const seed = Number(part.slice(0, part.indexOf("\n")));
      const line = part.split("\n").reverse().find((l) => l.startsWith("{"));
      const j = line ? JSON.parse(line) : undefined;
      ran++;
      if (!j || !j.ok) {
        refused++;
        console.log(`seed ${seed}: refused: ${j ? j.error : part.slice(0, 300)}`);
        continue;
      }
      const n = Number(j.verifier?.insns_processed ?? 0);
      insns += n;
      if (n > most.insns) most = { seed, insns: n };
      const bad = Object.entries(expected.get(seed)!).find(([k, v]) => BigInt(j.globals[k]) !== v);
      if (bad) {
        mismatched++;
        console.log(`seed ${seed}: ${bad[0]} = ${j.globals[bad[0]]}, expected ${bad[1]}`);
      }
    }
  }
  console.log(`${ran} of ${count} programs ran: ${refused} refused by the verifier, ${mismatched} mismatches; ` +
    `verifier insns processed: mean ${(insns / Math.max(1, ran - refused)).toFixed(0)}, most ${most.insns} (seed ${most.seed})`);
  process.exit(refused || mismatched || ran !== count ? 1 : 0);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
